/**
 * One undici Pool per node (and origin), created on first use and closed once it has been idle for a while, as
 * undici's Agent keeps one pool per origin. A route to the same node through the API server proxy and directly gets
 * two pools, since they are two origins.
 */
import type { Pool } from 'undici';
import { undici } from '../undici-loader.js';
import type { AgentRoute } from './agent-route.js';

export interface NodePoolsOptions {
  /** Close a node's pool after it has had no request in flight for this long (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Connections per pool (default 16; a fan-out never has more captures in flight than its concurrency). */
  connectionsPerNode?: number;
}

export const DEFAULT_NODE_POOLS_OPTIONS: Readonly<Required<NodePoolsOptions>> = Object.freeze({
  idleTimeoutMs: 30_000,
  connectionsPerNode: 16,
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

export class NodePools {
  private readonly options: Readonly<Required<NodePoolsOptions>>;
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(options: NodePoolsOptions = {}) {
    this.options = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_NODE_POOLS_OPTIONS.idleTimeoutMs,
      connectionsPerNode: options.connectionsPerNode ?? DEFAULT_NODE_POOLS_OPTIONS.connectionsPerNode,
    };
  }

  /** Node names with an open pool, sorted (for tests and diagnostics). */
  openKeys(): string[] {
    return [...this.entries.keys()].sort();
  }

  lease(route: AgentRoute): LeasedPool {
    if (this.closed) throw new Error('NodePools is closed');
    const key = `${route.node} ${route.origin}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const pool = new (undici().Pool)(route.origin, {
        connections: this.options.connectionsPerNode,
        connect: route.origin.startsWith('https:') ? { ...route.tls } : {},
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
