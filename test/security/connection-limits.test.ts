// Caps on open connections (issue #13, N7), with real sockets against real agents (plain HTTP and HTTPS): slow
// clients that send one header byte at a time hold their connections, so the agent must stop accepting more of them
// from one address (`--max-connections-per-address`) and in all (`--max-connections`), closing the excess as soon as
// they are accepted; other addresses (127.0.0.2 and up are loopback too) are still answered, and an address that
// holds no connection — kubelet's probe — still gets /healthz answered while a slowloris holds all the rest. The
// refusals are counted in podflame_connections_refused_total.
import http from 'node:http';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import {
  ConnectionBudget,
  connectionAddress,
  refusalLog,
  DEFAULT_CONNECTION_LIMITS,
} from '../../agent/server/connection-limits.js';
import { AgentHttpServer } from '../../agent/server/http-server.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { waitFor } from '../helpers/wait-for.js';
import { makeTestPki } from './tls-material.js';
import express from 'express';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

t.test('the budget: per address, in all, and the reserve for addresses holding none', async (t) => {
  const b = new ConnectionBudget({ maxConnections: 4, maxPerAddress: 2, reserved: 1 });
  t.equal(b.admit('10.0.0.1'), undefined);
  t.equal(b.admit('10.0.0.1'), undefined);
  t.equal(b.admit('10.0.0.1'), 'address', 'a third from one address');
  t.equal(b.admit('10.0.0.2'), undefined);
  t.equal(b.admit('10.0.0.2'), undefined);
  t.equal(b.open, 4);
  t.equal(b.admit('10.0.0.2'), 'address', 'its own cap first');
  t.equal(b.admit('10.0.0.3'), undefined, 'full, but 10.0.0.3 holds none: the reserve');
  t.equal(b.admit('10.0.0.3'), 'total', 'now it holds one');
  t.equal(b.admit('10.0.0.4'), 'total', 'the reserve is taken');
  b.release('10.0.0.1');
  t.equal(b.admit('10.0.0.1'), 'total', 'one closed, but four are open: only the reserve has room');
  t.equal(b.admit('10.0.0.4'), undefined, 'which an address holding none gets');
  b.release('10.0.0.3');
  b.release('10.0.0.4');
  t.equal(b.admit('10.0.0.1'), undefined, 'three open: room again for anyone');
  b.release('10.0.0.9');
  t.equal(b.open, 4, 'releasing what was never admitted changes nothing');
  const open = new ConnectionBudget({ maxConnections: 0, maxPerAddress: 0 });
  const refusals = Array.from({ length: 2000 }, () => open.admit('10.0.0.1')).filter((r) => r !== undefined);
  t.same(refusals, [], '0: no limit');
  t.throws(() => new ConnectionBudget({ maxConnections: -1 }), RangeError);
  t.same(DEFAULT_CONNECTION_LIMITS, { maxConnections: 1024, maxPerAddress: 256, reserved: 32 });
  t.equal(connectionAddress('::ffff:127.0.0.2'), '127.0.0.2', 'IPv4-mapped is IPv4');
  t.equal(connectionAddress('2001:DB8::1'), '2001:db8::1');
});

t.test('refusals are logged once, then at most once a minute with the counts', async (t) => {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  let now = 1_000_000;
  const log = refusalLog(
    { warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) },
    { maxConnections: 8, maxPerAddress: 2 },
    60_000,
    () => now,
  );
  log('address', '10.0.0.1');
  for (let i = 0; i < 500; i++) log('address', '10.0.0.1');
  log('total', '10.0.0.2');
  t.equal(lines.length, 1, 'one line for 502 refusals within the minute');
  t.match(lines[0]?.msg, /--max-connections-per-address/);
  now += 60_000;
  log('total', '10.0.0.3');
  t.equal(lines.length, 2);
  t.same(lines[1]?.obj.refusedSinceLastLine, { address: 500, total: 2 });
  t.same(lines[1]?.obj.addresses, ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
});

interface Slow {
  socket: Socket;
  closed: boolean;
}

/**
 * A slowloris connection from `from`: an unfinished request, one more header byte each 500 ms; or, for a TLS
 * listener (`silent`), nothing at all, which holds it in the handshake.
 */
async function slowClient(t: Test, port: number, from: string, silent = false): Promise<Slow> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  const slow: Slow = { socket, closed: false };
  socket.on('error', () => undefined);
  socket.on('close', () => (slow.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (!silent) socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const timer = setInterval(() => {
    if (!silent) socket.write('x');
  }, 500);
  socket.on('close', () => clearInterval(timer));
  t.teardown(() => {
    clearInterval(timer);
    socket.destroy();
  });
  return slow;
}

async function slowClients(t: Test, port: number, from: string, n: number, silent = false): Promise<Slow[]> {
  const out: Slow[] = [];
  for (let i = 0; i < n; i++) out.push(await slowClient(t, port, from, silent));
  return out;
}

/** Ends the slow clients before the agent closes, which would otherwise wait for them. */
function release(slow: Slow[]): void {
  for (const s of slow) s.socket.destroy();
}

/** The value of an unlabelled metric in a /metrics text. */
function metricValue(text: string | undefined, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : undefined;
}

/** GET `path` from the local address `from`; the status, or the error's code when the connection was cut. */
function getFrom(
  url: string,
  path: string,
  from: string,
  options: { ca?: string } = {},
): Promise<{ status?: number; body?: string; error?: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = mod.get(
      {
        host: u.hostname,
        port: u.port,
        path,
        localAddress: from,
        agent: false,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode as number, body }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

async function startAgent(t: Test, overrides: Partial<AgentConfig>) {
  const runtime = new FakeRuntime();
  // A long read timeout: a slow socket is closed by the caps or not at all while the test runs.
  const agent = new Agent({
    config: testConfig({ readTimeoutSeconds: 600, ...overrides }),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return { url, port: Number(new URL(url).port) };
}

t.test('the N+1th connection from one address is closed; other addresses are answered', async (t) => {
  const { url, port } = await startAgent(t, { maxConnections: 100, maxConnectionsPerAddress: 5 });
  const held = await slowClients(t, port, '127.0.0.1', 5);
  const extra = await slowClient(t, port, '127.0.0.1');
  await waitFor(() => extra.closed, 60_000, 'the sixth connection from 127.0.0.1 to be closed');
  t.ok(extra.closed, 'closed at once, long before any read timeout');
  const again = await getFrom(url, '/healthz', '127.0.0.1');
  t.ok(again.error, `a request from 127.0.0.1 fails too (${again.error})`);
  const other = await getFrom(url, '/healthz', '127.0.0.2');
  t.equal(other.status, 200, '127.0.0.2 is answered');
  t.same(
    held.map((s) => s.closed),
    [false, false, false, false, false],
    'the five held ones are still open',
  );
  const metrics = await getFrom(url, '/metrics', '127.0.0.3');
  t.match(metrics.body, /podflame_connections_refused_total\{reason="address"\} 2\b/, 'both refusals counted');
  // Five slow ones and the scrape itself; the earlier requests' connections close as their answers go out.
  await waitFor(
    async () => metricValue((await getFrom(url, '/metrics', '127.0.0.3')).body, 'podflame_connections_open') === 6,
    10_000,
    'podflame_connections_open 6',
  );
  // A slow socket that goes frees its place.
  held[0]?.socket.destroy();
  await waitFor(async () => (await getFrom(url, '/healthz', '127.0.0.1')).status === 200, 60_000, 'room again');
  release(held);
});

t.test('/healthz stays answered while a slowloris holds every connection', async (t) => {
  const { url, port } = await startAgent(t, { maxConnections: 8, maxConnectionsPerAddress: 5 });
  // Two addresses, each below its own cap: the agent holds 8, its total.
  const held = [...(await slowClients(t, port, '127.0.0.5', 4)), ...(await slowClients(t, port, '127.0.0.6', 4))];
  const fromHeld = await slowClient(t, port, '127.0.0.6');
  await waitFor(() => fromHeld.closed, 60_000, 'a ninth connection, from an address holding some, to be closed');
  const fromNew = await slowClient(t, port, '127.0.0.7');
  // Probes from addresses that hold none, as kubelet's (one connection at a time, closed after each answer).
  for (const probe of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) {
    t.equal((await getFrom(url, '/healthz', probe)).status, 200, `a probe from ${probe} is answered`);
  }
  t.notOk(fromNew.closed, 'a slow client from an address holding none got into the reserve too');
  t.ok(
    held.every((s) => !s.closed),
    'the slow ones are still held',
  );
  const metrics = await getFrom(url, '/metrics', '127.0.0.4');
  t.match(metrics.body, /podflame_connections_refused_total\{reason="total"\} 1\b/, 'one refusal, the ninth');
  release([...held, fromNew]);
});

t.test('over HTTPS the caps apply before the TLS handshake', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-conn-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = makeTestPki(dir);
  const app = express().get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const refused: string[] = [];
  const server = new AgentHttpServer(
    app,
    { host: '127.0.0.1', port: 0 },
    {
      tls: { cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) },
      readTimeoutMs: 600_000,
      connections: { maxConnections: 50, maxPerAddress: 3, onRefused: (reason) => refused.push(reason) },
    },
  );
  const { url, port } = await server.start();
  t.teardown(() => server.close(100));
  const held = await slowClients(t, port, '127.0.0.1', 3, true);
  const extra = await slowClient(t, port, '127.0.0.1', true);
  await waitFor(() => extra.closed, 60_000, 'the fourth connection to be closed');
  t.same(refused, ['address']);
  const ca = readFileSync(pki.caFile, 'utf8');
  t.equal((await getFrom(url, '/healthz', '127.0.0.2', { ca })).status, 200, '127.0.0.2 is answered over TLS');
  t.ok(
    held.every((s) => !s.closed),
    'the three in their handshake are still held',
  );
  release(held);
});
