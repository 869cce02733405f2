/**
 * The profile worker's thread (started by profile-worker.ts): collapses captures' perf script and renders answers
 * and graphs, so that the agent's event loop — health probes, other requests — never waits for them. Jobs run one at
 * a time in the order they arrive; a collapse is a session fed chunk by chunk between other jobs.
 */
import { parentPort } from 'node:worker_threads';
import { PodflameError } from '../../shared/errors.js';
import { renderDiffGraph, renderMergedGraph } from '../../shared/history-graphs.js';
import type { WorkerCollapseResult, WorkerReply, WorkerRequest } from './profile-worker.js';
import { renderProfile } from './render-profile.js';
import { limitStacks } from './stack-limits.js';
import { createEventCollapser, type EventCollapser } from './event-collapser.js';
import { toFoldedBytes } from './folded-bytes.js';
import { totalSamples } from '../../shared/folded.js';

const port = parentPort;
if (port === null) throw new Error('profile-worker-main.ts runs as a worker thread only');

const sessions = new Map<number, EventCollapser>();

function session(id: number): EventCollapser {
  const s = sessions.get(id);
  if (s === undefined) throw new PodflameError('INTERNAL', `the profile worker has no collapse session ${id}`);
  return s;
}

/** Buffers the reply hands over to the agent's thread instead of copying them (set by `handle`). */
let transfer: ArrayBuffer[] = [];

function handle(request: WorkerRequest): unknown {
  switch (request.kind) {
    case 'ping':
      return undefined;
    case 'collapse-start':
      sessions.set(request.session, createEventCollapser(request.event));
      return undefined;
    case 'collapse-chunk':
      session(request.session).push(request.chunk);
      return undefined;
    case 'collapse-end': {
      const result = session(request.session).finish();
      sessions.delete(request.session);
      const limited = limitStacks(result.stacks, request.limits);
      return {
        folded: toFoldedBytes(limited.stacks),
        foldedSamples: totalSamples(limited.stacks),
        droppedStacks: limited.droppedStacks,
        droppedSamples: limited.droppedSamples,
        samples: result.samples,
        jitFrames: result.jitFrames,
        jitFramesResolved: result.jitFramesResolved,
        unrecognizedLines: result.unrecognizedLines,
        warnings: result.warnings,
      } satisfies WorkerCollapseResult;
    }
    case 'collapse-abort':
      sessions.delete(request.session);
      return undefined;
    case 'render-profile': {
      const answer = renderProfile(request.format, request.metadata, request.folded, request.render);
      // Encoded here and handed over (transferred): the agent's thread gets the bytes without copying a string.
      const body = new TextEncoder().encode(answer.body);
      transfer = [body.buffer];
      return { contentType: answer.contentType, body };
    }
    case 'render-merged':
      return renderMergedGraph(request.format, request.stacks, request.options);
    case 'render-diff':
      return renderDiffGraph(request.format, request.base, request.target, request.options);
  }
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
