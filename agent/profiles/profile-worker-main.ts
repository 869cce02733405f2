/**
 * The profile worker's thread (started by profile-worker.ts): collapses captures' perf script and renders answers
 * and graphs, so that the agent's event loop — health probes, other requests — never waits for them. Jobs run one at
 * a time in the order they arrive; a collapse is a session fed chunk by chunk between other jobs.
 *
 * The sessions share the thread's heap, so each says what it holds (EventCollapser.heapBytes) after every chunk, and
 * together they may hold at most the worker's collapse budget: past it the largest session fails alone with
 * PROFILE_TOO_LARGE and its state is let go, instead of the heap running out under every job at once.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PodflameError } from '../../shared/errors.js';
import { renderDiffGraph, renderMergedGraph, type GraphAnswer } from '../../shared/history-graphs.js';
import type { WorkerCollapseResult, WorkerData, WorkerReply, WorkerRequest } from './profile-worker.js';
import { MAX_DRAWN_FRAMES, renderProfile } from './render-profile.js';
import { createEventCollapser, type EventCollapser } from './event-collapser.js';
import { CollapseBudget } from './collapse-budget.js';
import { drawHeapBytes, renderHeapBytes, type RenderJob } from './render-heap.js';
import { unpackStacks } from './packed-stacks.js';

const port = parentPort;
if (port === null) throw new Error('profile-worker-main.ts runs as a worker thread only');
const config = workerData as WorkerData;

const budget = new CollapseBudget<EventCollapser>({
  maxHeapMb: config.maxHeapMb,
  share: config.collapseHeapShare,
  // What the thread holds before any job: its modules (under a TypeScript loader, the compiler's too).
  baseBytes: getHeapStatistics().used_heap_size,
});

/**
 * Refuses a render whose reading would not fit beside the collapses (PROFILE_TOO_LARGE), and gives the check of its
 * drawing, once the frames to draw are known.
 */
function checkedRender(job: RenderJob): (frames: number) => void {
  const reading = renderHeapBytes(job);
  budget.checkRender(reading);
  return (frames) => budget.checkRender(reading + drawHeapBytes(frames));
}

/** Buffers the reply hands over to the agent's thread instead of copying them (set by `handle`). */
let transfer: ArrayBuffer[] = [];

function handle(request: WorkerRequest): unknown {
  switch (request.kind) {
    case 'ping':
      return undefined;
    case 'collapse-start': {
      // The collapse reports during a chunk's decoding too, so the budget stops a crafted JFR chunk mid-way.
      const session = request.session;
      budget.add(
        session,
        createEventCollapser(request.event, {
          onGrow: (heapBytes) => budget.grew(session, heapBytes),
          frequencyHz: request.frequencyHz,
          ...(request.durationSeconds === undefined ? {} : { durationSeconds: request.durationSeconds }),
        }),
      );
      return undefined;
    }
    case 'collapse-chunk': {
      const collapser = budget.get(request.session);
      collapser.push(request.chunk);
      budget.grew(request.session, collapser.heapBytes());
      return undefined;
    }
    case 'collapse-end': {
      const collapser = budget.get(request.session);
      try {
        return collapser.finish(request.limits) satisfies WorkerCollapseResult;
      } finally {
        budget.remove(request.session);
      }
    }
    case 'collapse-abort':
      budget.remove(request.session);
      return undefined;
    case 'render-profile': {
      const answer = renderProfile(
        request.format,
        request.metadata,
        request.folded,
        request.render,
        checkedRender(request),
        request.eventCounts,
      );
      // Encoded here and handed over (transferred): the agent's thread gets the bytes without copying a string.
      const body = new TextEncoder().encode(answer.body);
      transfer = [body.buffer];
      return { contentType: answer.contentType, body };
    }
    // Graphs drawn here are bounded in frames, as a profile's are (render-profile.ts).
    case 'render-merged': {
      // Checked before the stacks are unpacked into the heap: the estimate counts them there.
      const beforeDraw = checkedRender(request);
      return handedOver(
        renderMergedGraph(request.format, unpackStacks(request.stacks), {
          ...request.options,
          ...(request.eventCounts ? { eventCounts: unpackStacks(request.eventCounts) } : {}),
          maxFrames: MAX_DRAWN_FRAMES,
          beforeDraw,
          bytes: true,
        }),
      );
    }
    case 'render-diff': {
      const beforeDraw = checkedRender(request);
      return handedOver(
        renderDiffGraph(request.format, unpackStacks(request.base), unpackStacks(request.target), {
          ...request.options,
          maxFrames: MAX_DRAWN_FRAMES,
          beforeDraw,
          bytes: true,
        }),
      );
    }
  }
}

/**
 * A graph's answer with its bytes handed over to the agent's thread (transferred): a string or a cloned buffer
 * would be a copy of megabytes on that thread's heap per query, garbage that piles up there between its collections.
 */
function handedOver(answer: GraphAnswer): { contentType: string; body: Uint8Array } {
  let body = typeof answer.body === 'string' ? new TextEncoder().encode(answer.body) : answer.body;
  // A view of part of a buffer (Node's pool) cannot be handed over alone: copy it into one of its own.
  if (body.byteOffset !== 0 || body.byteLength !== body.buffer.byteLength) body = new Uint8Array(body);
  transfer = [body.buffer as ArrayBuffer];
  return { contentType: answer.contentType, body };
}

port.on('message', (request: WorkerRequest) => {
  if (request.kind.startsWith('render')) port.postMessage({ seq: request.seq, started: true } satisfies WorkerReply);
  let reply: WorkerReply;
  transfer = [];
  try {
    reply = { seq: request.seq, ok: true, value: handle(request) };
  } catch (err) {
    const e =
      err instanceof PodflameError
        ? err
        : new PodflameError(
            'INTERNAL',
            `the profile worker failed: ${err instanceof Error ? err.message : String(err)}`,
          );
    reply = { seq: request.seq, ok: false, error: e.toJSON().error };
  }
  port.postMessage(reply, transfer);
});
