/**
 * The HTTP listener around the express app, with caps on open connections (connection-limits.ts) and a two-step
 * close: stop accepting first (new requests go to the next agent), then, once in-flight captures have been stopped
 * and answered, wait for the connections to finish.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import {
  ConnectionBudget,
  limitConnections,
  type ConnectionLimiterEvents,
  type ConnectionLimitsOptions,
} from './connection-limits.js';
import type { TlsMaterial } from './tls.js';

/** Where to listen (config.ts parses `--listen` into this). */
export interface ListenAddress {
  host: string;
  /** 0 lets the system pick a free port (the start-up log line names the one bound). */
  port: number;
}

export interface BoundAddress {
  host: string;
  port: number;
  /** `http://HOST:PORT` (`https://` with TLS), IPv6 hosts bracketed. */
  url: string;
}

export interface AgentHttpServerOptions {
  /** Certificate and key: serve HTTPS. Default: plain HTTP. */
  tls?: TlsMaterial | undefined;
  /**
   * Time a client has to send its whole request, headers and body, in ms; a client that sends headers and then
   * stalls (slowloris) gets 408 and is disconnected. Default 60 000.
   */
  readTimeoutMs?: number;
  /** Caps on open connections, in all and per client address, and what to tell of refusals. Default: the caps' defaults. */
  connections?: ConnectionLimitsOptions & ConnectionLimiterEvents;
}

export class AgentHttpServer {
  readonly #server: Server;
  readonly #listen: ListenAddress;
  readonly #scheme: 'http' | 'https';
  #closed: Promise<void> | undefined;

  constructor(app: Express, listen: ListenAddress, options: AgentHttpServerOptions = {}) {
    this.#listen = listen;
    // A synchronous capture may take 600 s plus margin: no socket or response time limit here; the capture service
    // bounds each capture itself. Headers and small bodies must still arrive promptly: Node checks the two timeouts
    // every connectionsCheckingInterval, so a stalled client is cut within 1.5 read timeouts at most.
    const requestTimeout = options.readTimeoutMs ?? 60_000;
    const timeouts = {
      requestTimeout,
      headersTimeout: Math.min(30_000, requestTimeout),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(requestTimeout / 2))),
    };
    this.#scheme = options.tls ? 'https' : 'http';
    this.#server = options.tls
      ? createHttpsServer({ ...timeouts, cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, app)
      : createServer(timeouts, app);
    this.#server.timeout = 0;
    const connections = options.connections ?? {};
    limitConnections(this.#server, new ConnectionBudget(connections), connections);
  }

  async start(): Promise<BoundAddress> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#listen.port, this.#listen.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `${this.#scheme}://${host}:${a.port}` };
  }

  /** Stops accepting connections and closes idle keep-alive ones; in-flight requests carry on. Idempotent. */
  stopAccepting(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    return this.#closed;
  }

  /** Stops accepting, then waits for in-flight requests until `deadlineMs`, after which connections are cut. */
  async close(deadlineMs = 5_000): Promise<void> {
    const closed = this.stopAccepting();
    // Connections become idle as their last answers go out; close each as soon as it is (keep-alive would hold it).
    const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
    const timer = setTimeout(() => this.#server.closeAllConnections(), deadlineMs);
    await closed;
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
