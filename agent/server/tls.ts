import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { asPodflameError, PodflameError } from '../../shared/errors.js';

export interface TlsFiles {
  /** PEM certificate chain (`--tls-cert`). */
  certFile?: string | undefined;
  /** PEM private key (`--tls-key`). */
  keyFile?: string | undefined;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads and checks the agent's certificate and key; undefined when neither is configured (plain HTTP). Both or
 * neither: one without the other is a configuration error, not a silent fallback to HTTP.
 */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial | undefined {
  const { certFile, keyFile } = files;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `HTTPS needs both --tls-cert and --tls-key; only ${certFile === undefined ? '--tls-key' : '--tls-cert'} was given`,
    );
  }
  let material: TlsMaterial;
  try {
    material = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (err) {
    throw asPodflameError(err, 'CONFIG_INVALID', 'cannot read the TLS certificate or key');
  }
  try {
    // Fails here, at start-up, for a key that does not match the certificate or a file that is not PEM.
    createSecureContext(material);
  } catch (err) {
    throw asPodflameError(
      err,
      'CONFIG_INVALID',
      `--tls-cert ${certFile} and --tls-key ${keyFile} do not form a usable pair`,
    );
  }
  return material;
}

/** Timeouts that keep a slow or stalled client from holding a connection (and a capture slot) open. */
export interface ServerTimeouts {
  /** Time to receive the complete request headers, ms. Default 10 000. */
  headersTimeoutMs?: number;
  /** Time to receive the complete request (headers and body), ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, ms. Default 5 000. */
  keepAliveTimeoutMs?: number;
  /** Header bytes accepted at most. Default 16 KiB (Node's default), larger headers get 431. */
  maxHeaderSize?: number;
}

export const DEFAULT_SERVER_TIMEOUTS = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderSize: 16 * 1024,
});

/**
 * The agent's HTTP or HTTPS server around a request listener (the express app), with timeouts against clients that
 * send headers and then stall (slowloris): Node answers 408 and closes once `requestTimeout` passes without the full
 * request. Responses are not bounded in time here: a capture may legitimately take minutes to answer.
 */
export function createAgentServer(
  listener: http.RequestListener,
  tls: TlsMaterial | undefined,
  timeouts: ServerTimeouts = {},
): http.Server {
  const d = DEFAULT_SERVER_TIMEOUTS;
  const options: http.ServerOptions = {
    headersTimeout: timeouts.headersTimeoutMs ?? d.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs ?? d.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs,
    maxHeaderSize: timeouts.maxHeaderSize ?? d.maxHeaderSize,
  };
  const server = tls
    ? https.createServer({ ...options, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, listener)
    : http.createServer(options, listener);
  return server;
}
