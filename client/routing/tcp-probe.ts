import { connect } from 'node:net';

/**
 * True when a TCP connection to host:port opens within the timeout. `--via auto` uses it to tell a caller inside the
 * cluster network (pod IPs reachable) from one outside it (they are not: use the API server's proxy).
 */
export function canConnect(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(ok);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
