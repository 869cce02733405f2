/**
 * An agent for the web page's HTTP tests, without an engine: the history harness (real Agent, real store, the
 * in-memory runtime) with on-demand profiles whose captures replay real `perf script` output recorded from a JDK 17
 * running test/fixtures/history/Shop.java, and stored profiles holding the folded capture of the same workload
 * (test/fixtures/history/record.sh recorded both). Not a test file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Test } from 'tap';
import { parseFolded } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import type { ProfileEvent } from '../../shared/profile-events.js';
import { hexId, podContainer } from '../agent/fake-runtime.js';
import { call } from '../agent/http.js';
import { startHistoryAgent, type HistoryAgent } from '../history/agent-harness.js';
import { waitFor } from '../helpers/wait-for.js';

const FIXTURES = join(import.meta.dirname, '../fixtures');
/** `perf script` of Shop.java after its "release" (`Shop.checkout`, `Shop.inventory`, ...). */
export const PERF_SCRIPT = gunzipSync(readFileSync(join(FIXTURES, 'history/after.perf.txt.gz'))).toString('utf8');
/** The folded capture of Shop.java before the release: 380 samples. */
export const FOLDED = parseFolded(readFileSync(join(FIXTURES, 'history/before.folded'), 'utf8')).stacks;

export interface Pod {
  uid: string;
  name: string;
  namespace: string;
}

/** Adds a running container in `pod` to the fake engine; returns its ID. */
export function addContainer(h: HistoryAgent, pod: Pod, container: string, seed: string): string {
  const id = hexId(seed);
  h.runtime.containers.push(podContainer(id, pod, container));
  h.runtime.processes.set(id, ['java -XX:+PreserveFramePointer -cp /app Workload']);
  return id;
}

/** An on-demand profile of the container (async POST), finished with the recorded perf output; returns its id. */
export async function profileOnDemand(
  t: Test,
  h: HistoryAgent,
  pod: Pod,
  container: string,
  output = PERF_SCRIPT,
): Promise<string> {
  const before = h.runtime.captures.length;
  const res = await call(h.url, 'POST', '/v1/profiles?async=1', {
    target: { podUid: pod.uid, container },
    durationSeconds: 2,
    frequencyHz: 49,
  });
  t.equal(res.status, 202, `POST /v1/profiles?async=1: ${res.text.slice(0, 300)}`);
  await waitFor(() => h.runtime.captures.length > before, 60_000, 'the capture to start');
  h.runtime.captures[before]!.finish({ exitCode: 0, output });
  const id = res.json.id as string;
  await waitFor(() => h.agent.registry.get(id)?.metadata.status !== 'running', 60_000, 'the profile to finish');
  return id;
}

/** A stored profile as a schedule would store it. */
export function storeProfile(
  h: HistoryAgent,
  pod: Pod,
  container: string,
  schedule: string | null,
  startMs: number,
  node = 'node-a',
  event: ProfileEvent = 'cpu',
): Promise<StoredProfile> {
  return h.history.store.put({
    startMs,
    namespace: pod.namespace,
    pod: pod.name,
    container,
    node,
    durationSeconds: 5,
    frequencyHz: 99,
    warnings: [{ code: 'NO_PRESERVE_FRAME_POINTER', message: 'the JVM runs without -XX:+PreserveFramePointer' }],
    schedule,
    podUid: pod.uid,
    containerId: hexId('5e'),
    labels: { app: 'shop' },
    stacks: FOLDED,
    event,
  });
}

export { startHistoryAgent };
