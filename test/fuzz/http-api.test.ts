// The agent's HTTP API fed 10,000 seeded malformed requests over keep-alive connections (undici Pool): bad JSON,
// wrong types, huge numbers, unknown and prototype fields, unicode, shell metacharacters, path traversal in ids,
// wrong methods and paths, odd encodings, oversize bodies and headers, bad credentials. Every answer must be one of
// the documented 4xx below, with the error body's code matching its status; the agent must stay up; and no capture
// container may be created (watched on the engine's event stream, and in /metrics). Replay one request with
// FUZZ_SEED=<seed> and the index printed in a failure.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Pool, request } from 'undici';
import { ERROR_CODES, isErrorCode } from '../../shared/errors.js';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { captureContainersOf, watchCaptures } from '../security/capture-watch.js';
import { malformedRequest } from './malformed-requests.js';

t.setTimeout(600_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const CONCURRENCY = 8;
const TOKEN = 'fuzz-token-3c5e7a9b1d2f4a6c';

/**
 * The documented refusals. JSON ones carry `{"error": {"code", "message"}}`; 400 without a body is Node's own answer
 * to a request it cannot parse as HTTP, 431 to headers over 16 KiB, 408 to a request not received in time.
 */
const DOCUMENTED_CODES = new Set([
  'INVALID_REQUEST', // 400: not JSON, wrong types, out of range, unknown fields, bad target, bad path encoding
  'UNAUTHENTICATED', // 401
  'ROUTE_NOT_FOUND', // 404: any other method or path
  'PROFILE_NOT_FOUND', // 404
  'TARGET_NOT_FOUND', // 404: a well-formed target that names no container here
  'BODY_TOO_LARGE', // 413
]);
const BARE_STATUSES = new Set([400, 431]);

interface Outcome {
  status: number;
  code: string;
}

const env = await requireDockerEnv(t);
if (env) {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-fuzz-'));
  writeFileSync(join(dir, 'tokens'), `${TOKEN},fuzzer\n`);
  const node = `fuzz-${Math.random().toString(16).slice(2, 8)}`;
  const agent = await startAgentProcess([
    '--auth',
    'token',
    '--token-file',
    join(dir, 'tokens'),
    '--rate-limit',
    '0',
    // A thousand bad credentials from one address: each must be answered 401, not spend a failure budget.
    '--auth-failure-limit',
    '0',
    '--listen',
    '127.0.0.1:0',
    '--node-name',
    node,
    '--capture-image',
    env.captureImage,
    '--docker-socket',
    env.socketPath,
  ]);
  t.teardown(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const watch = await watchCaptures(env.docker, node);
  t.teardown(() => watch.stop());

  const metric = async (name: string): Promise<number> => {
    const res = await request(`${agent.url}/metrics`);
    const text = await res.body.text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name) && !l.startsWith('#'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };

  t.test(`${REQUESTS} malformed requests (seed ${SEED})`, async (t) => {
    const capturesBefore = await metric('podflame_captures_total');
    const pool = new Pool(agent.url, { connections: CONCURRENCY, pipelining: 1 });
    const byCategory = new Map<string, Map<string, number>>();
    const findings: string[] = [];
    const slow: string[] = [];
    let unsendable = 0;
    let closedByServer = 0;
    let next = 0;
    const started = performance.now();

    const record = (category: string, key: string): void => {
      const counts = byCategory.get(category) ?? new Map<string, number>();
      counts.set(key, (counts.get(key) ?? 0) + 1);
      byCategory.set(category, counts);
    };

    const send = async (index: number): Promise<void> => {
      const req = malformedRequest(SEED, index);
      const headers = { ...req.headers };
      if (!req.unauthenticated) headers.authorization = `Bearer ${TOKEN}`;
      let outcome: Outcome;
      const t0 = performance.now();
      try {
        const res = await pool.request({
          method: req.method as 'GET',
          path: req.path,
          headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        const text = await res.body.text();
        let code = '-';
        if (text !== '') {
          try {
            const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            code = String(parsed.error?.code);
            if (typeof parsed.error?.message !== 'string' || parsed.error.message === '') code = `${code}(no message)`;
          } catch {
            code = 'not-json';
          }
        }
        outcome = { status: res.statusCode, code };
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'unknown';
        if (code === 'UND_ERR_INVALID_ARG') {
          unsendable++; // undici refused to send it (e.g. a header value outside latin1): nothing reached the agent
          record(req.category, 'unsendable');
          return;
        }
        if (
          ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(code) &&
          ['too-large', 'huge-header'].includes(req.category)
        ) {
          closedByServer++; // the agent answered 413/431 and closed while the client was still sending
          record(req.category, `closed:${code}`);
          return;
        }
        findings.push(
          `#${index} ${req.category} ${req.method} ${req.path.slice(0, 80)}: client error ${code} ${(err as Error).message}`,
        );
        record(req.category, `error:${code}`);
        return;
      }
      record(req.category, `${outcome.status} ${outcome.code}`);
      const ms = performance.now() - t0;
      if (ms > 2000)
        slow.push(`#${index} ${req.category} ${req.method} ${req.path.slice(0, 60)}: ${Math.round(ms)} ms`);
      const documented =
        outcome.code === '-'
          ? BARE_STATUSES.has(outcome.status)
          : isErrorCode(outcome.code) &&
            DOCUMENTED_CODES.has(outcome.code) &&
            ERROR_CODES[outcome.code].status === outcome.status;
      if (!documented) {
        findings.push(
          `#${index} ${req.category} ${req.method} ${req.path.slice(0, 80)} → ${outcome.status} ${outcome.code}`,
        );
      }
    };

    const worker = async (): Promise<void> => {
      while (next < REQUESTS) await send(next++);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    await pool.close();

    const table = [...byCategory.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([cat, counts]) => `${cat}: ${[...counts.entries()].map(([k, n]) => `${k}×${n}`).join(', ')}`);
    t.comment(
      `${REQUESTS} requests in ${seconds.toFixed(1)} s (${(REQUESTS / seconds).toFixed(0)}/s), ${CONCURRENCY} connections`,
    );
    t.comment(
      `unsendable by the client: ${unsendable}; connection closed by the agent after its answer: ${closedByServer}`,
    );
    for (const line of table) t.comment(line);
    for (const line of slow.slice(0, 20)) t.comment(`slow: ${line}`);
    t.same(findings.slice(0, 20), [], `undocumented answers: ${findings.length}`);
    t.equal(unsendable, 0, 'every request was sent');

    // The agent is still up and answering.
    const health = await request(`${agent.url}/healthz`);
    t.equal(health.statusCode, 200);
    await health.body.dump();
    t.equal(agent.child.exitCode, null, 'the agent process is alive');

    // No capture container was ever created, and the capture counter did not move.
    t.equal(watch.created(), 0, 'no capture container created (engine events)');
    t.same(await captureContainersOf(env.docker, node), [], 'none exists');
    t.equal(await metric('podflame_captures_total'), capturesBefore, 'podflame_captures_total unchanged');
    t.equal(await metric('podflame_captures_in_flight'), 0);
    t.comment(
      `refusals counted in podflame_requests_rejected_total: ${await metric('podflame_requests_rejected_total')}`,
    );
  });
}
