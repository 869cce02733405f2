/**
 * Sends a large drawn answer (a merged or differential graph) to a caller that may never read it (issue #13, re-attack
 * finding B). The server has no timeout (http-server.ts: captures and merges may take minutes), so nothing else ends a
 * send whose caller stopped reading, and its answer stayed in memory for as long as the connection stayed open.
 *
 * The body goes out in slices, each written once the one before has been taken by the socket, so every slice the
 * caller takes is progress; no progress for the stall deadline destroys the connection. A slow reader still gets its
 * whole answer; a stalled one loses it. Nothing here keeps the body once the connection closes (answered, cut or
 * gone); `holdAnswerUntilClosed` counts it in the merge gate until then.
 */
import type { Response } from 'express';
import type { MergeGate } from './merge-gate.js';

export interface AnswerSendOptions {
  /** Cut the connection when the caller takes nothing of the answer for this long, ms. Default 30 000. */
  stallMs?: number;
  /** Bytes written at a time. Default 64 KiB (the socket's own high-water mark is 16 KiB). */
  sliceBytes?: number;
}

export const DEFAULT_ANSWER_SEND_OPTIONS = Object.freeze({ stallMs: 30_000, sliceBytes: 64 * 1024 });

/**
 * Counts an answer's bytes in `gate` until `res`'s connection closes. Called within the merge's turn, so the next turn
 * sees them; throws `gone`'s reason, holding nothing, when the caller has already gone away.
 */
export function holdAnswerUntilClosed(gate: MergeGate, res: Response, bytes: number, gone: AbortSignal): void {
  gone.throwIfAborted();
  res.once('close', gate.holdAnswer(bytes));
}

/** Sends `answer` as the whole 200 answer, cutting the connection when the caller stops taking it. */
export function sendAnswer(
  res: Response,
  answer: { contentType: string; body: Buffer },
  options: AnswerSendOptions = {},
): void {
  const stallMs = options.stallMs ?? DEFAULT_ANSWER_SEND_OPTIONS.stallMs;
  const sliceBytes = options.sliceBytes ?? DEFAULT_ANSWER_SEND_OPTIONS.sliceBytes;
  let body: Buffer | undefined = answer.body;
  let stalled: NodeJS.Timeout | undefined;
  const progressed = () => {
    clearTimeout(stalled);
    if (res.destroyed) return; // a slice's callback after the connection closed
    // Destroying the response destroys its socket, and with it the slices queued there.
    stalled = setTimeout(() => res.destroy(), stallMs).unref();
  };
  res.once('close', () => {
    clearTimeout(stalled);
    body = undefined;
  });
  res.status(200).type(answer.contentType).setHeader('Content-Length', String(answer.body.length));

  let at = 0;
  const writeMore = () => {
    progressed();
    while (body !== undefined && at < body.length && !res.destroyed) {
      const slice = body.subarray(at, at + sliceBytes);
      at += slice.length;
      // The callback runs once the socket has taken the slice (and never when the connection is cut first).
      if (!res.write(slice, progressed)) {
        res.once('drain', writeMore);
        return;
      }
    }
    if (body !== undefined && !res.destroyed) {
      body = undefined;
      res.end();
    }
  };
  writeMore();
}
