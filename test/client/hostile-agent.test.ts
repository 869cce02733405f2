// Issue #13, cold attack findings 3 and 4: whatever answers at an agent's address may send JSON without end or write
// escape sequences into its words. Every request of the client has a byte cap (not only a capture's), named in the
// error, and every agent-written string the CLI prints to a terminal comes out without escapes or bidi controls.
// A real loopback server stands in for the hostile agent; it counts the bytes it managed to send, which bounds what
// the client read (the CLI's memory is not measured here).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AgentClient } from '../../client/agent-client.js';
import { COMMANDS } from '../../client/cli/commands/index.js';
import { AnswerDeadlineError, errorFromFailure } from '../../client/transport/agent-errors.js';
import { urlEndpoint } from '../../client/transport/agent-endpoint.js';
import { DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_JSON_ANSWER_BYTES } from '../../client/transport/answer-limits.js';
import { terminalSafe } from '../../shared/terminal-safe.js';
import { runInProcess } from '../helpers/cli-io.js';
import { FakeKubeApi, makeAgentPod } from '../helpers/fake-kube-api.js';
import { AGENT_SERVER_NAME, makeTestPki, type TestPki } from '../security/tls-material.js';

const MiB = 1024 ** 2;
/** What loopback socket buffers and the client's stream may hold beyond the cap when the client stops reading. */
const IN_FLIGHT_SLACK = 16 * MiB;
/** A flood ends here rather than never, so that a client without a cap fails the test instead of hanging it. */
const FLOOD_END = DEFAULT_MAX_ANSWER_BYTES + 2 * IN_FLIGHT_SLACK;

const ESC = '\x1b[2J\x1b]0;pwned\x07\x1b[31m';
const BIDI = '\u202e\u2066\u200f\u061c';
/** Anything that would act on a terminal: C0 and C1 controls (ESC, BEL, CSI) and the bidi controls. */
// eslint-disable-next-line no-control-regex
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

type Respond = (req: IncomingMessage, res: ServerResponse, sent: (bytes: number) => void) => void;

/**
 * A loopback agent whose every answer `respond` writes; `sentBytes()` is what it wrote of bodies in all. With `pki`
 * it serves HTTPS, as agents in a cluster do (the client sends them its token over TLS only).
 */
async function startHostile(respond: Respond, pki?: TestPki) {
  let sent = 0;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    respond(req, res, (bytes) => (sent += bytes));
  };
  const server = pki
    ? createTlsServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, handle)
    : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sentBytes: () => sent,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `{"items":["aaaa…` at full speed, 1 MiB a write, for as long as the client reads (up to FLOOD_END). */
function flood(status: number, opening: string): Respond {
  return (_req, res, sent) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.write(opening);
    const chunk = Buffer.alloc(MiB, 0x61);
    let written = 0;
    const pump = (): void => {
      while (!res.destroyed && written < FLOOD_END) {
        written += chunk.length;
        sent(chunk.length);
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('"]}');
    };
    pump();
  };
}

const run = (argv: string[]) => runInProcess(COMMANDS, argv, { cwd: '/tmp' });

t.test('library targets() and profileStatus(): an endless JSON answer stops at the JSON cap, named', async (t) => {
  const agent = await startHostile(flood(200, '{"items":["'));
  t.teardown(() => agent.close());
  const client = new AgentClient(agent.url, { busyWaitMs: 0 });
  t.teardown(() => client.close());
  await t.rejects(client.targets(), {
    code: 'OUTPUT_TOO_LARGE',
    message: new RegExp(`answer is larger than ${DEFAULT_MAX_JSON_ANSWER_BYTES} bytes, the most this client reads`),
    details: { maxAnswerBytes: DEFAULT_MAX_JSON_ANSWER_BYTES },
  });
  t.ok(agent.sentBytes() <= DEFAULT_MAX_JSON_ANSWER_BYTES + IN_FLIGHT_SLACK, `sent ${agent.sentBytes()} bytes`);
  // The agent's error answer is capped alike: an endless error message is no way around it.
  const errors = await startHostile(flood(500, '{"error":{"code":"INTERNAL","message":"'));
  t.teardown(() => errors.close());
  const other = new AgentClient(errors.url, { busyWaitMs: 0 });
  t.teardown(() => other.close());
  await t.rejects(other.profileStatus('p1'), { code: 'OUTPUT_TOO_LARGE' });
  t.ok(errors.sentBytes() <= DEFAULT_MAX_JSON_ANSWER_BYTES + IN_FLIGHT_SLACK, `sent ${errors.sentBytes()} bytes`);
});

for (const argv of [
  ['history', '-A'],
  ['flamegraph', '--since', '1h', '-A'],
  ['diff', '--base', '2h..1h', '--target', '1h..now', '-A'],
]) {
  t.test(`podflame ${argv[0]} --agent: an endless answer stops at the history cap, named`, async (t) => {
    const agent = await startHostile(flood(200, '{"node":"n","items":["'));
    t.teardown(() => agent.close());
    const r = await run([...argv, '--agent', agent.url]);
    t.not(r.code, 0, r.err);
    t.match(r.err, new RegExp(`larger than ${DEFAULT_MAX_ANSWER_BYTES} bytes.*\\[OUTPUT_TOO_LARGE\\]`));
    t.ok(agent.sentBytes() <= DEFAULT_MAX_ANSWER_BYTES + IN_FLIGHT_SLACK, `sent ${agent.sentBytes()} bytes`);
  });
}

t.test("podflame agents: an endless /readyz stops at the JSON cap; an agent's RUNTIME is terminal-safe", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-hostile-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(dir, [`DNS:${AGENT_SERVER_NAME}`]);
  let readyz: Respond = flood(200, '{"runtime":"');
  const agent = await startHostile((req, res, sent) => readyz(req, res, sent), pki);
  t.teardown(() => agent.close());
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.close());
  api.putConfigMap('podflame', 'podflame-agent-ca', {
    'ca.crt': readFileSync(pki.caFile, 'utf8'),
    'server-name': AGENT_SERVER_NAME,
  });
  api.putPod(makeAgentPod({ nodeName: 'node-a', podIP: '127.0.0.1', port: agent.port }));
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: 'shop' });
  const flooded = await run(['agents', '--kubeconfig', kubeconfig]);
  t.equal(flooded.code, 0, flooded.err);
  t.match(flooded.text, /node-a +podflame-agent-node-a +yes +0\.1\.0 +\? +127\.0\.0\.1/);
  t.ok(agent.sentBytes() > DEFAULT_MAX_JSON_ANSWER_BYTES, 'the flood was read up to the cap');
  t.ok(agent.sentBytes() <= DEFAULT_MAX_JSON_ANSWER_BYTES + IN_FLIGHT_SLACK, `sent ${agent.sentBytes()} bytes`);
  readyz = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', runtime: `docker${ESC}${BIDI}` }));
  };
  const escaped = await run(['agents', '--kubeconfig', kubeconfig]);
  t.equal(escaped.code, 0, escaped.err);
  t.match(escaped.text, /node-a +podflame-agent-node-a +yes +0\.1\.0 +docker\[2J\]0;pwned\[31m +127\.0\.0\.1/);
  t.notMatch(escaped.text, TERMINAL_CONTROL);
});

t.test("an agent's error message and history rows reach the terminal without escapes or bidi controls", async (t) => {
  let respond: Respond = (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'INVALID_REQUEST', message: `bad${ESC}${BIDI}\nthing`, details: {} } }));
  };
  const agent = await startHostile((req, res, sent) => respond(req, res, sent));
  t.teardown(() => agent.close());
  const failed = await run(['history', '-A', '--agent', agent.url]);
  t.not(failed.code, 0);
  t.match(failed.err, /bad\[2J\]0;pwned\[31m thing/);
  t.notMatch(failed.err, TERMINAL_CONTROL);

  const row = {
    id: `20261204T000000Z-deadbeef${ESC}`,
    namespace: `ns${BIDI}`,
    pod: `pod${ESC}`,
    container: `c${ESC}`,
    node: `n${ESC}`,
    start: new Date(Date.now() - 60_000).toISOString(),
    durationSeconds: 10,
    frequencyHz: 99,
    java: { inlined: false },
    event: 'cpu',
    samples: 5,
    warnings: [{ code: `X${ESC}`, message: `m${ESC}` }],
    schedule: `s${BIDI}`,
    podUid: null,
    containerId: null,
    labels: { a: `b${ESC}` },
    bytes: 10,
  };
  respond = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ node: `n${ESC}`, items: [row] }));
  };
  const listed = await run(['history', '-A', '--agent', agent.url]);
  t.equal(listed.code, 0, listed.err);
  t.match(listed.text, /pod\[2J\]0;pwned\[31m/);
  t.notMatch(listed.text, TERMINAL_CONTROL);
  t.notMatch(listed.err, TERMINAL_CONTROL);
});

t.test('terminalSafe removes C0, C1 and the bidi controls, and keeps other text', async (t) => {
  t.equal(terminalSafe(`a${ESC}b`), 'a[2J]0;pwned[31mb');
  t.equal(terminalSafe('evil\u202Etxt.exe\u202C'), 'eviltxt.exe');
  for (const c of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']) {
    t.equal(terminalSafe(`x${c}y`), 'xy', `U+${c.charCodeAt(0).toString(16)}`);
  }
  t.equal(terminalSafe('x\u200e\u200f\u061cy\u0085z\u009b'), 'xyz');
  t.equal(terminalSafe('línea 1\r\nnext — ok ✓'), 'línea 1 next — ok ✓');
});

t.test('a deadline during the body says whether it came too slowly or was too large to finish', async (t) => {
  const endpoint = urlEndpoint('http://127.0.0.1:9');
  const request = { timeoutMs: 10_000 };
  const slow = errorFromFailure(endpoint, new AnswerDeadlineError(10_000, true, 5, undefined), request);
  t.match(slow, { code: 'CAPTURE_TIMEOUT', message: /within 10 s \(its body came too slowly\)$/ });
  const large = errorFromFailure(endpoint, new AnswerDeadlineError(10_000, true, 900 * MiB, undefined), request);
  t.match(large, {
    code: 'CAPTURE_TIMEOUT',
    message: /within 10 s \(its body was still coming after 943718400 bytes: too large to read in that time\)$/,
    details: { bodyBytes: 900 * MiB },
  });
  t.notMatch(large.message, /too slowly/);
});

t.test("a capture's warnings, profile id and node from an agent reach the terminal without controls", async (t) => {
  const warnings = [{ code: `W${ESC}`, message: `m${ESC}${BIDI} evil\u009b2J` }];
  let warningsHeader = encodeURIComponent(JSON.stringify(warnings));
  const agent = await startHostile((_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'x-podflame-warnings': warningsHeader,
      'x-podflame-profile-id': 'p\u009b2Jid',
      'x-podflame-node': 'n\u009bode',
      'x-podflame-samples': '1',
    });
    res.end('main;work 1\n');
  });
  t.teardown(() => agent.close());
  const dir = mkdtempSync(join(tmpdir(), 'podflame-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const argv = [
    'profile',
    '--agent',
    agent.url,
    '--container-id',
    'abcdef0123456789',
    '--format',
    'folded',
    '-d',
    '1s',
  ];
  const captured = await runInProcess(COMMANDS, [...argv, '-o', join(dir, 'out.folded')], {
    cwd: dir,
    interactive: true,
  });
  t.equal(captured.code, 0, captured.err);
  t.match(captured.err, /podflame: warning: m\[2J\]0;pwned\[31m evil2J \[W\[2J/);
  t.match(captured.err, /node node, profile p2Jid/, "the 'wrote' line's node and profile id, cleaned");
  // The CLI's own progress line rewrites itself with CR and erase-line; nothing else may act on the terminal.
  // eslint-disable-next-line no-control-regex
  t.notMatch(captured.err.replace(/\r\x1b\[K/g, ''), TERMINAL_CONTROL);

  // A header that is not JSON is reported as unreadable, its text cleaned too.
  warningsHeader = `%5B${encodeURIComponent(ESC)}`;
  const garbled = await runInProcess(COMMANDS, [...argv, '-o', join(dir, 'out2.folded')], { cwd: dir });
  t.equal(garbled.code, 0, garbled.err);
  t.match(garbled.err, /WARNINGS_UNREADABLE/);
  t.notMatch(garbled.err, TERMINAL_CONTROL);
});
