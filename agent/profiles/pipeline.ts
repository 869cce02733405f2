/**
 * The agent's use of the shared pipeline: the capture's `perf script` stream into the collapser (Java mode: the
 * JIT's `_[j]`-style annotations the Java palette colours by), and folded stacks into the SVG renderer. Kept in one
 * place so the capture service deals in folded stacks only.
 */
import type { Readable } from 'node:stream';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { renderFlameGraph } from '../../shared/render/flamegraph.js';
import { resolveRenderOptions, type RenderOptions } from '../../shared/render/options.js';
import type { CaptureWarning } from '../../shared/api.js';
import { compareBytes, type FoldedStacks } from '../../shared/folded.js';
import { PodflameError } from '../../shared/errors.js';

export interface CollapsedCapture {
  stacks: FoldedStacks;
  /** Samples the collapser counted (each sample counts 1: the capture's perf script has no period field). */
  samples: number;
  jitFrames: number;
  jitFramesResolved: number;
  unrecognizedLines: number;
  warnings: CaptureWarning[];
  /** Bytes of perf script read. */
  bytes: number;
  /** When the first byte arrived (performance.now()), or undefined when none did. */
  firstByteAt: number | undefined;
  /** ms spent inside the collapser. */
  collapseMs: number;
}

export interface CollapseStreamOptions {
  /** Stop with OUTPUT_TOO_LARGE beyond this many bytes. */
  maxBytes: number;
  /** Called once when the bytes bound is crossed, before the stream is abandoned (e.g. to abort the capture). */
  onTooLarge: (error: PodflameError) => void;
}

/** Collapses a capture's stdout as it streams; rejects if the stream fails (the caller decides what that means). */
export async function collapseCaptureStream(
  stdout: Readable,
  options: CollapseStreamOptions,
): Promise<CollapsedCapture> {
  const collapser = new PerfCollapser({ java: true });
  let bytes = 0;
  let firstByteAt: number | undefined;
  let collapseMs = 0;
  for await (const chunk of stdout as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    firstByteAt ??= performance.now();
    bytes += buf.length;
    if (bytes > options.maxBytes) {
      const error = new PodflameError(
        'OUTPUT_TOO_LARGE',
        `the capture wrote more than ${options.maxBytes} bytes of perf script (the agent's --max-output-bytes); ` +
          'use a shorter duration or a lower frequency',
        { details: { maxOutputBytes: options.maxBytes } },
      );
      options.onTooLarge(error);
      throw error;
    }
    const t = performance.now();
    // Bytes as they come: the collapser stitches lines (and multi-byte characters) across chunks itself.
    collapser.push(buf);
    collapseMs += performance.now() - t;
  }
  const t = performance.now();
  const result = collapser.finish();
  collapseMs += performance.now() - t;
  return {
    stacks: result.stacks,
    samples: result.samples,
    jitFrames: result.jitFrames,
    jitFramesResolved: result.jitFramesResolved,
    unrecognizedLines: result.unrecognizedLines,
    warnings: result.warnings.map((message) => ({ code: 'COLLAPSE', message })),
    bytes,
    firstByteAt,
    collapseMs,
  };
}

function* foldedLines(stacks: FoldedStacks): Generator<string> {
  for (const stack of [...stacks.keys()].sort(compareBytes)) yield `${stack} ${stacks.get(stack)}`;
}

/** Throws INVALID_REQUEST for options the renderer would refuse (an unknown palette, ...), before a capture runs. */
export function checkRenderOptions(options: Readonly<Record<string, unknown>>): void {
  resolveRenderOptions(options as Partial<RenderOptions>);
}

export function renderSvg(stacks: FoldedStacks, options: Readonly<Record<string, unknown>>): string {
  return renderFlameGraph(foldedLines(stacks), options as Partial<RenderOptions>).svg;
}
