/**
 * Caps on the agent's open connections (issue #13, N7): in all, and per client address. `--read-timeout` cuts a
 * slow client after a while, but 3,000 slow sockets from one address were all held until then, each an fd and
 * some memory; beyond the caps a new connection is closed as soon as it is accepted, before a byte is read.
 *
 * The total cap keeps a reserve for addresses that hold no connection yet: kubelet's probes (a new connection each,
 * from the node's address), a curl on the node, Prometheus' first scrape. A flood from a few addresses, each held
 * to its per-address cap, cannot take that room; only one from more addresses than the reserve holds can.
 */
import type { Server, Socket } from 'node:net';

export interface ConnectionLimitsOptions {
  /** Connections open at once in all; 0 is no limit. Default 1024. */
  maxConnections?: number;
  /** Connections open at once from one address (IPv4-mapped IPv6 counted as IPv4); 0 is no limit. Default 256. */
  maxPerAddress?: number;
  /** Room beyond `maxConnections` for addresses that hold no connection yet. Default 32. */
  reserved?: number;
}

export const DEFAULT_CONNECTION_LIMITS = Object.freeze({ maxConnections: 1024, maxPerAddress: 256, reserved: 32 });

/** Why a connection was closed: the total cap (reserve included) or its address's cap. */
export type ConnectionRefusal = 'total' | 'address';

/** Counts open connections by address and says whether another fits. Pure: no sockets. */
export class ConnectionBudget {
  readonly #max: number;
  readonly #perAddress: number;
  readonly #reserved: number;
  readonly #byAddress = new Map<string, number>();
  #open = 0;

  constructor(options: ConnectionLimitsOptions = {}) {
    this.#max = options.maxConnections ?? DEFAULT_CONNECTION_LIMITS.maxConnections;
    this.#perAddress = options.maxPerAddress ?? DEFAULT_CONNECTION_LIMITS.maxPerAddress;
    this.#reserved = options.reserved ?? DEFAULT_CONNECTION_LIMITS.reserved;
    for (const [name, v] of [
      ['maxConnections', this.#max],
      ['maxPerAddress', this.#perAddress],
      ['reserved', this.#reserved],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a whole number >= 0, got ${v}`);
    }
  }

  /** Connections open now. */
  get open(): number {
    return this.#open;
  }

  /** Counts a new connection from `address` and returns undefined, or says why it does not fit (nothing counted). */
  admit(address: string): ConnectionRefusal | undefined {
    const held = this.#byAddress.get(address) ?? 0;
    if (this.#perAddress > 0 && held >= this.#perAddress) return 'address';
    if (this.#max > 0 && this.#open >= this.#max + (held === 0 ? this.#reserved : 0)) return 'total';
    this.#byAddress.set(address, held + 1);
    this.#open++;
    return undefined;
  }

  /** A connection admitted from `address` has closed. */
  release(address: string): void {
    const held = this.#byAddress.get(address) ?? 0;
    if (held <= 0) return;
    if (held === 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, held - 1);
    this.#open--;
  }
}

export interface ConnectionLimiterEvents {
  /** A connection was closed at once: which cap, and the address it came from. */
  onRefused?: (reason: ConnectionRefusal, address: string) => void;
  /** The number of open connections changed. */
  onOpen?: (open: number) => void;
}

/**
 * Applies `budget` to every connection `server` accepts: plain TCP before HTTP, or before the TLS handshake with
 * HTTPS. Refused sockets are destroyed (the client sees the connection reset), never read.
 */
export function limitConnections(server: Server, budget: ConnectionBudget, events: ConnectionLimiterEvents = {}): void {
  server.on('connection', (socket: Socket) => {
    // No address: the peer is gone already.
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const address = connectionAddress(socket.remoteAddress);
    const refusal = budget.admit(address);
    if (refusal !== undefined) {
      socket.destroy();
      events.onRefused?.(refusal, address);
      return;
    }
    events.onOpen?.(budget.open);
    socket.once('close', () => {
      budget.release(address);
      events.onOpen?.(budget.open);
    });
  });
}

/**
 * The address a connection counts against: the address itself (IPv4-mapped IPv6 as IPv4). Unlike the budget of
 * refused credentials, not an IPv6 /64: a Kubernetes node's pods often share one /64, and a cap on connections held
 * at once is not worth sharing with them; the total cap bounds a caller who owns many addresses.
 */
export function connectionAddress(remoteAddress: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  return mapped ? (mapped[1] as string) : remoteAddress.toLowerCase();
}

/** What the refusal log writes to (a pino logger fits). */
export interface RefusalLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Refusals for the log: the first at once, then at most one line per `everyMs` with the counts since the last, so a
 * flood of connections is not also a flood of log lines. The metric counts each one.
 */
export function refusalLog(
  logger: RefusalLogger,
  limits: Required<Pick<ConnectionLimitsOptions, 'maxConnections' | 'maxPerAddress'>>,
  everyMs = 60_000,
  now: () => number = Date.now,
): (reason: ConnectionRefusal, address: string) => void {
  let lastAt = -Infinity;
  const pending = { total: 0, address: 0 };
  const addresses = new Set<string>();
  return (reason, address) => {
    pending[reason]++;
    if (addresses.size < 10) addresses.add(address);
    if (now() - lastAt < everyMs) return;
    lastAt = now();
    logger.warn(
      { refusedSinceLastLine: { ...pending }, addresses: [...addresses], ...limits },
      'connections closed at once: the agent holds --max-connections in all (a reserve kept for addresses that ' +
        'hold none) and --max-connections-per-address from one address; raise them if these callers are yours',
    );
    pending.total = 0;
    pending.address = 0;
    addresses.clear();
  };
}
