/**
 * Issue #13, re-attack finding B: callers that asked for the 7-day folded graph (~40-47 MB) and never read it piled
 * the answers up in the agent (RSS 460 → 1527 MiB after 25 of them, no 503), because the merge gate's turn ends when
 * the answer is drawn and nothing ended a stalled send. Now the gate counts the bytes of answers not yet taken: no
 * merge starts beyond its bound (503 TOO_MANY_MERGES), and a caller who takes nothing for the send's stall deadline is
 * cut, which frees its answer. Checked on a real agent on loopback with clients that never read (paused sockets), by
 * the gate's state and the answers' codes, never by time.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { call } from '../agent/http.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { IN_PROCESS_GRAPHS, type GraphRenderer } from '../../agent/server/routes/history.js';
import { MergeGate } from '../../agent/server/merge-gate.js';
import { isoTime, SHOP_T0, shopProfile } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';
import { holdsWithin } from '../helpers/wait-for.js';

const T0 = SHOP_T0;
const iso = isoTime;
/** How long a check waits for what should happen before it says it did not (a bound, not a measurement). */
const GIVE_UP_MS = 20_000;
/**
 * An answer larger than loopback's socket buffers can take from a caller that reads nothing (tcp_wmem's 4 MiB on the
 * agent's side and the paused caller's untuned receive window), as the 40-47 MB folded answers of the attack were.
 */
const ANSWER_BYTES = 32 * 1024 ** 2;

const profile = (i: number): NewProfile => shopProfile(i);

/** The real folded answer of the merged Shop profiles, repeated to ANSWER_BYTES; counts the graphs asked of it. */
function bigGraphs(): GraphRenderer & { asked: number } {
  const graphs = {
    asked: 0,
    renderMergedGraph: async (...args: Parameters<GraphRenderer['renderMergedGraph']>) => {
      graphs.asked++;
      const real = await IN_PROCESS_GRAPHS.renderMergedGraph(...args);
      const text = String(real.body);
      return { contentType: real.contentType, body: text.repeat(Math.ceil(ANSWER_BYTES / text.length)) };
    },
    renderDiffGraph: IN_PROCESS_GRAPHS.renderDiffGraph,
  };
  return graphs;
}

/** True once `condition` holds; false if it still does not after GIVE_UP_MS. */
const eventually = (condition: () => boolean): Promise<boolean> => holdsWithin(condition, GIVE_UP_MS, 10);

const query = `/v1/flamegraph?namespace=shop&from=${iso(T0)}&to=now&format=folded`;

/**
 * A caller that asks for the merged graph and never reads a byte of the answer, until `readAll()`: then it takes what
 * reached it, to the end of the connection.
 */
function stalledCaller(url: string): { socket: Socket; readAll: () => Promise<Buffer> } {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.on('error', () => undefined);
  socket.write(`GET ${query} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
  socket.pause();
  const readAll = () =>
    new Promise<Buffer>((resolve) => {
      const got: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => got.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(got)));
      socket.resume();
    });
  return { socket, readAll };
}

t.test('beyond the bound of answers not taken, no merge starts: 503 TOO_MANY_MERGES', async (t) => {
  const graphs = bigGraphs();
  // Below one answer: the first stalled answer fills it.
  const mergeGate = new MergeGate({ answerBytes: 1024 ** 2, retryAfterSeconds: 3 });
  const { url, history } = await startHistoryAgent(t, { graphs, mergeGate });
  for (let i = 0; i < 2; i++) await history.store.put(profile(i));

  const stalled = stalledCaller(url);
  t.teardown(() => stalled.socket.destroy());
  t.ok(await eventually(() => graphs.asked === 1 && mergeGate.running === 0), 'the stalled answer is drawn');
  t.ok(mergeGate.answerBytesHeld >= ANSWER_BYTES, 'and counted while its caller takes nothing');

  const refused = await call(url, 'GET', query);
  t.equal(refused.status, 503, 'a merge beyond the bound is refused');
  t.equal(refused.json?.error?.code, 'TOO_MANY_MERGES', 'as the gate refuses merges');
  t.equal(refused.headers['retry-after'], '3', 'with the gate Retry-After');
  t.match(refused.json?.error?.message, /have not read/, 'saying why');
  t.equal(graphs.asked, 1, 'the refused merge never started');

  stalled.socket.destroy();
  t.ok(await eventually(() => mergeGate.answerBytesHeld === 0), 'the caller going away frees its answer');
  const answered = await call(url, 'GET', query);
  t.equal(answered.status, 200, 'once freed, a merge runs');
  t.equal(Buffer.byteLength(answered.text), Number(answered.headers['content-length']), 'the whole answer');
  t.ok(answered.text.length >= ANSWER_BYTES);
  t.equal(mergeGate.answerBytesHeld, 0, 'an answer taken is no longer counted');
});

t.test('a caller who takes nothing for the stall deadline is cut, and its answer freed', async (t) => {
  const graphs = bigGraphs();
  // Room for all three answers: only the stall deadline frees them.
  const mergeGate = new MergeGate({ answerBytes: 4 * ANSWER_BYTES });
  const { url, history } = await startHistoryAgent(t, { graphs, mergeGate, answerSend: { stallMs: 200 } });
  for (let i = 0; i < 2; i++) await history.store.put(profile(i));

  const callers = [stalledCaller(url), stalledCaller(url), stalledCaller(url)];
  t.teardown(() => callers.forEach((c) => c.socket.destroy()));
  t.ok(await eventually(() => graphs.asked === 3), 'all three answers are drawn (in turn)');
  t.ok(
    await eventually(() => mergeGate.running === 0 && mergeGate.answerBytesHeld === 0),
    'the agent ends every stalled send instead of holding its answer while the connection stays open',
  );
  for (const [i, caller] of callers.entries()) {
    const got = (await caller.readAll()).toString('latin1');
    t.match(got, /^HTTP\/1\.1 200 /, `caller ${i} was answered`);
    const length = Number(/content-length: (\d+)/i.exec(got)?.[1]);
    const body = got.length - got.indexOf('\r\n\r\n') - 4;
    t.ok(length >= ANSWER_BYTES && body < length, `caller ${i} got ${body} of ${length} bytes: its send was cut`);
  }
  const answered = await call(url, 'GET', query);
  t.equal(answered.status, 200, 'other merges are answered');
  t.ok(answered.text.length >= ANSWER_BYTES);
});

t.test('with the answers held at their bound, a merge is refused at once, not after waiting for a turn', async (t) => {
  const gate = new MergeGate({ answerBytes: 10 });
  let finishFirst!: () => void;
  const first = gate.run(() => new Promise<void>((resolve) => (finishFirst = resolve)));
  const release = gate.holdAnswer(10);
  const refused = gate.run(async () => 'never run');
  t.equal(gate.waiting, 0, 'not queued behind the running merge');
  finishFirst();
  await first;
  await t.rejects(refused, { code: 'TOO_MANY_MERGES', details: { answerBytesHeld: 10, answerBytes: 10 } });
  release();
  release();
  t.equal(gate.answerBytesHeld, 0, 'an answer is released once, however often its connection says it closed');
  t.equal(await gate.run(async () => 'ran'), 'ran', 'once released, merges run');
  t.throws(() => new MergeGate({ answerBytes: 0 }), { code: 'CONFIG_INVALID' });
});
