import { isIP } from 'node:net';
import { PodflameError } from '../../shared/errors.js';
import type { AuthMode } from './identity.js';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, ::ffff:127.x, and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){5}ffff:127\./.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/**
 * `--auth none` hands root on the node to whoever reaches the port, so it is refused unless only this machine can
 * reach it. Called once at start-up, before the server listens.
 */
export function assertAuthModeAllowed(mode: AuthMode, listenHost: string, listenPort?: number): void {
  if (mode !== 'none' || isLoopbackHost(listenHost)) return;
  const where = listenPort === undefined ? listenHost : `${listenHost}:${listenPort}`;
  throw new PodflameError(
    'CONFIG_INVALID',
    `--auth none is only allowed on a loopback listen address, but the agent was asked to listen on ${where}: ` +
      'without authentication anyone who reaches the port could start privileged capture containers on this node. ' +
      'Use --auth kubernetes (in a cluster) or --auth token --token-file FILE, or listen on 127.0.0.1',
    { details: { auth: mode, listen: where } },
  );
}
