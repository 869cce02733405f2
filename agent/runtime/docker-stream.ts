/**
 * Splits a Docker attach stream (non-TTY) into stdout and stderr, with backpressure: dockerode's own
 * `modem.demuxStream` writes into its targets without waiting, so a slow consumer of `perf script` text would make
 * the agent buffer the whole capture; here reading pauses until stdout drains, and the capture container's pipe
 * fills and perf waits instead.
 *
 * Frame layout (Docker Engine API, "Attach to a container"): an 8-byte header, `[STREAM, 0, 0, 0, SIZE (uint32 big
 * endian)]`, STREAM 1 = stdout, 2 = stderr, then SIZE bytes of payload, e.g.
 *   01 00 00 00 00 00 00 2d  "hot-fibonacci     1/25      859.314833: cpu-clock: \n"
 */
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

/**
 * Copies the payload of stdout frames to `stdout` (ending it when the source ends) and hands stderr payloads to
 * `onStderr`. Resolves when the source ended; rejects if it failed or sent something that is not a Docker frame.
 * If the stdout consumer goes away (destroyed), the rest of stdout is read and dropped, so the container is never
 * left blocked on a full pipe.
 */
export async function demuxDockerStream(
  source: Readable,
  stdout: Writable,
  onStderr: (chunk: Buffer) => void,
): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  // Bytes still owed to the current frame, and where they go.
  let frameLeft = 0;
  let frameStream = 0;
  for await (const data of source) {
    let chunk: Buffer = pending.length > 0 ? Buffer.concat([pending, data as Buffer]) : (data as Buffer);
    pending = Buffer.alloc(0);
    while (chunk.length > 0) {
      if (frameLeft === 0) {
        if (chunk.length < HEADER_BYTES) {
          pending = chunk;
          break;
        }
        frameStream = chunk[0] as number;
        if (frameStream > STDERR || chunk[1] !== 0 || chunk[2] !== 0 || chunk[3] !== 0) {
          throw new Error(
            `not a Docker multiplexed stream (header ${chunk.subarray(0, HEADER_BYTES).toString('hex')})`,
          );
        }
        frameLeft = chunk.readUInt32BE(4);
        chunk = chunk.subarray(HEADER_BYTES);
        continue;
      }
      const payload = chunk.subarray(0, frameLeft);
      frameLeft -= payload.length;
      chunk = chunk.subarray(payload.length);
      if (frameStream === STDOUT) {
        if (!stdout.destroyed && !stdout.write(payload)) await waitForDrain(stdout);
      } else if (frameStream === STDERR) {
        onStderr(payload);
      }
    }
  }
  if (!stdout.destroyed) stdout.end();
}

/** Resolves on 'drain', or on 'close' (a destroyed consumer never drains). */
async function waitForDrain(stream: Writable): Promise<void> {
  const stopListening = new AbortController();
  try {
    // Promise.race handles the loser's AbortError rejection.
    await Promise.race([
      once(stream, 'drain', { signal: stopListening.signal }),
      once(stream, 'close', { signal: stopListening.signal }),
    ]);
  } finally {
    stopListening.abort();
  }
}
