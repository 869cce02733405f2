/**
 * Turns what dockerode throws into PodflameErrors with the engine's own message kept. dockerode gives HTTP answers
 * as errors with `statusCode` and `json.message` (e.g. 404 "No such image: podflame-perf:1"), and connection
 * failures as Node system errors with `code` (ECONNREFUSED, ENOENT, EACCES on the socket).
 */
import { PodflameError } from '../../shared/errors.js';

interface DockerodeError {
  statusCode?: number;
  json?: { message?: unknown } | null;
  code?: string;
  message?: string;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'EPERM', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** The engine's message for an HTTP error answer, else the error's own message. */
export function engineMessage(err: unknown): string {
  const e = err as DockerodeError | null;
  const json = e?.json?.message;
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  return err instanceof Error ? err.message : String(err);
}

export function httpStatusOf(err: unknown): number | undefined {
  const status = (err as DockerodeError | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** True for failures to reach the engine at all (as opposed to an answer saying no). */
export function isConnectionError(err: unknown): boolean {
  const e = err as DockerodeError | null;
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  // dockerode wraps a closed socket mid-request like this.
  return httpStatusOf(err) === undefined && /socket hang up|connect E[A-Z]+/.test(e?.message ?? '');
}

export function dockerUnavailable(socketPath: string, err: unknown): PodflameError {
  return new PodflameError(
    'DOCKER_UNAVAILABLE',
    `the Docker engine at ${socketPath} does not answer (${engineMessage(err)}): check that dockerd runs and that ` +
      'its socket is mounted into the agent (hostPath /var/run/docker.sock)',
    { cause: err, details: { socketPath } },
  );
}

/**
 * The error to throw for a failed engine call: connection problems become DOCKER_UNAVAILABLE, anything else the
 * given code with `what` and the engine's message.
 */
export function fromDockerError(
  err: unknown,
  socketPath: string,
  what: string,
  code: 'CAPTURE_FAILED' | 'INTERNAL' = 'CAPTURE_FAILED',
): PodflameError {
  if (err instanceof PodflameError) return err;
  if (isConnectionError(err)) return dockerUnavailable(socketPath, err);
  const status = httpStatusOf(err);
  return new PodflameError(code, `${what}: ${engineMessage(err)}`, {
    cause: err,
    details: status === undefined ? {} : { engineStatus: status },
  });
}
