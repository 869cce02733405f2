/**
 * dockerode, loaded without the two transports the agent never uses. At import, dockerode loads its BuildKit session
 * support (`lib/session.js`: @grpc/grpc-js, @grpc/proto-loader, protobufjs) and docker-modem its SSH transport
 * (`lib/ssh.js`: ssh2): about 12 MiB of an idle agent's memory, for `buildImage` sessions and `ssh://` engines. The
 * agent talks to a local engine over its unix socket and builds nothing, so these two files are deferred: each is
 * entered in Node's `require.cache` (documented as writable) as a function that loads the real file on its first
 * call and passes the call on. Nothing is replaced: a caller that does use them gets them, one call late.
 */
import Module, { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import type Docker from 'dockerode';

const require = createRequire(import.meta.url);

/** The files deferred, as resolved from dockerode's own folder (docker-modem is its dependency). */
export function deferredDockerodeFiles(): string[] {
  const fromDockerode = createRequire(require.resolve('dockerode'));
  const fromModem = createRequire(fromDockerode.resolve('docker-modem'));
  return [fromDockerode.resolve('./session.js'), fromModem.resolve('./ssh.js')];
}

/**
 * Enters `path` (a CommonJS file exporting one function) in `require.cache` as a function that loads the real file
 * on its first call. Returns false, changing nothing, when the file is missing (another dockerode layout: it then
 * loads as it always did) or already loaded.
 */
export function deferCommonJsFunction(path: string): boolean {
  if (!existsSync(path) || require.cache[path] !== undefined) return false;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  stub.exports = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (real === undefined) {
      if (require.cache[path] === stub) delete require.cache[path];
      real = require(path) as (...a: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  require.cache[path] = stub;
  return true;
}

/** dockerode's constructor, its session and SSH files deferred. */
export function loadDockerode(): typeof Docker {
  for (const file of deferredDockerodeFiles()) deferCommonJsFunction(file);
  return require('dockerode') as typeof Docker;
}
