/**
 * One undici Pool per agent (see `poolKey`), created on first use and closed once it has been idle for a while, as
 * undici's Agent keeps one pool per origin.
 */
import type { Pool } from 'undici';
import { undici } from './undici-loader.js';
import { poolKey, type AgentEndpoint } from './agent-endpoint.js';

export interface AgentPoolsOptions {
  /** Close an agent's pool after it has had no request in flight for this long (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Connections per pool (default 16; a fan-out never has more captures in flight than its concurrency). */
  connectionsPerAgent?: number;
}

export const DEFAULT_AGENT_POOLS_OPTIONS: Readonly<Required<AgentPoolsOptions>> = Object.freeze({
  idleTimeoutMs: 30_000,
  connectionsPerAgent: 16,
});

interface Entry {
  pool: Pool;
  inFlight: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export interface LeasedPool {
  pool: Pool;
  /** Call once the request's response has been read to the end (or failed). */
  release(): void;
}

export class AgentPools {
  private readonly options: Readonly<Required<AgentPoolsOptions>>;
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(options: AgentPoolsOptions = {}) {
    this.options = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_AGENT_POOLS_OPTIONS.idleTimeoutMs,
      connectionsPerAgent: options.connectionsPerAgent ?? DEFAULT_AGENT_POOLS_OPTIONS.connectionsPerAgent,
    };
  }

  /** The keys of the open pools (`NODE ORIGIN` for a route, the origin for a URL), sorted (tests, diagnostics). */
  openKeys(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The endpoint's pool, made on first use, held open until `release`. Throws once closed. */
  lease(endpoint: AgentEndpoint): LeasedPool {
    if (this.closed) throw new Error('AgentPools is closed');
    const key = poolKey(endpoint);
    let entry = this.entries.get(key);
    if (!entry) {
      const pool = new (undici().Pool)(endpoint.origin, {
        connections: this.options.connectionsPerAgent,
        connect: endpoint.origin.startsWith('https:') ? { ...endpoint.tls } : {},
      });
      entry = { pool, inFlight: 0, idleTimer: undefined };
      this.entries.set(key, entry);
    }
    const leased = entry;
    if (leased.idleTimer) clearTimeout(leased.idleTimer);
    leased.idleTimer = undefined;
    leased.inFlight++;
    let released = false;
    return {
      pool: leased.pool,
      release: () => {
        if (released) return;
        released = true;
        leased.inFlight--;
        if (leased.inFlight === 0 && !this.closed) {
          leased.idleTimer = setTimeout(() => this.closeEntry(key, leased), this.options.idleTimeoutMs);
          leased.idleTimer.unref();
        }
      },
    };
  }

  private closeEntry(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry || entry.inFlight > 0) return;
    this.entries.delete(key);
    void entry.pool.close().catch(() => undefined);
  }

  /** Closes every pool; requests still in flight are aborted. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map(async (e) => {
        if (e.idleTimer) clearTimeout(e.idleTimer);
        await (e.inFlight > 0 ? e.pool.destroy() : e.pool.close()).catch(() => undefined);
      }),
    );
  }
}
