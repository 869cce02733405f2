/**
 * `ProfileWorker`: the agent's collapsing and rendering, run in one worker thread (profile-worker-main.ts) so that
 * the event loop stays free for probes and other requests while a large profile is drawn, and bounded in memory: the
 * thread's heap is capped, the captures being collapsed may hold a share of it together (collapse-budget.ts), and a
 * job that would not fit fails alone with PROFILE_TOO_LARGE. A heap that runs out all the same (an estimate that was
 * short) fails the thread's jobs in flight with PROFILE_TOO_LARGE instead of taking the agent down. The thread starts
 * with the first job and is started again after it dies.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { OutputFormat, ProfileMetadata } from '../../shared/api.js';
import { errorFromBody, PodflameError, type ErrorBody } from '../../shared/errors.js';
import type { EventCounts, FoldedStacks } from '../../shared/folded.js';
import type { DiffGraphOptions, GraphAnswer, MergedGraphOptions } from '../../shared/history-graphs.js';
import type { DiffFormat, HistoryFormat } from '../../shared/history.js';
import type { FoldedBytes } from './folded-bytes.js';
import type { LimitedCollapse } from './event-collapser.js';
import type { RenderedProfile, RenderRequest } from './render-profile.js';
import type { StackLimits } from './stack-limits.js';
import { packedBuffers, packStacks, type PackedStacks } from './packed-stacks.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';
import { DEFAULT_SAMPLING_OPTIONS } from '../../shared/export/sampling.js';

export interface ProfileWorkerOptions {
  /** Old-generation heap of the thread, MiB (`--worker-heap`); a job beyond it fails with PROFILE_TOO_LARGE. Default 192. */
  maxHeapMb?: number;
  /**
   * The share of that heap, beyond what the thread's own modules hold, that the captures being collapsed may hold
   * together; past it the largest fails alone. The rest is for drawing graphs. Default 0.6.
   */
  collapseHeapShare?: number;
  /**
   * Young generation of the thread, MiB: where a render's short-lived strings die. V8's default (48 MiB, of which
   * 32 stay committed once grown) is a fifth of what the agent may hold in all; renders took no longer with 12.
   * Default 12.
   */
  maxYoungGenerationMb?: number;
  /** Node options of the thread. Default: the agent process's own (a loader it runs under, e.g. in tests). */
  execArgv?: string[];
  /** Called as a render job starts running in the thread (tests wait for it). */
  onRenderStarted?: () => void;
  /**
   * The thread is stopped after this long (ms) without a job in flight or a collapse open, and started again by the
   * next job: an idle agent then does not hold the thread's isolate and heap. A capture's collapse opens as soon as
   * its container runs, so a restart happens while it records. 0: never stopped. Default 5000.
   */
  idleStopMs?: number;
}

export const DEFAULT_WORKER_HEAP_MB = 192;
export const DEFAULT_COLLAPSE_HEAP_SHARE = 0.6;
export const DEFAULT_WORKER_YOUNG_GENERATION_MB = 12;
export const DEFAULT_WORKER_IDLE_STOP_MS = 5000;

/** What the thread is started with. */
export interface WorkerData {
  maxHeapMb: number;
  collapseHeapShare: number;
}

/** The worker's module next to this one, with this module's extension (.ts under a loader, .js when built). */
const WORKER_URL = new URL(`./profile-worker-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** What a collapse session ends with: the stacks as folded bytes in shared memory, which cross without a copy. */
export type WorkerCollapseResult = LimitedCollapse;

type Job =
  | { kind: 'ping' }
  | {
      kind: 'collapse-start';
      session: number;
      event: ProfileEvent;
      frequencyHz: number;
      /** The capture's requested duration (a Flight Recorder graph's window); undefined: the whole recording. */
      durationSeconds: number | undefined;
    }
  | { kind: 'collapse-chunk'; session: number; chunk: Uint8Array }
  | { kind: 'collapse-end'; session: number; limits: StackLimits }
  | { kind: 'collapse-abort'; session: number }
  | {
      kind: 'render-profile';
      format: OutputFormat;
      metadata: ProfileMetadata;
      folded: FoldedBytes;
      render: RenderRequest;
      eventCounts?: EventCounts;
    }
  | {
      kind: 'render-merged';
      format: HistoryFormat;
      stacks: PackedStacks;
      eventCounts?: PackedStacks;
      options: Omit<MergedGraphOptions, 'eventCounts'>;
    }
  | { kind: 'render-diff'; format: DiffFormat; base: PackedStacks; target: PackedStacks; options: DiffGraphOptions };

export type WorkerRequest = Job & { seq: number };

export type WorkerReply =
  | { seq: number; started: true }
  | { seq: number; ok: true; value: unknown }
  | { seq: number; ok: false; error: ErrorBody['error'] };

/** The thread a collapse session lives in, once its first job was sent. */
interface Pin {
  worker?: Worker;
}

interface Pending {
  worker: Worker;
  resolve: (value: unknown) => void;
  reject: (error: PodflameError) => void;
}

export class ProfileWorker {
  readonly #maxHeapMb: number;
  readonly #collapseHeapShare: number;
  readonly #options: ProfileWorkerOptions;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #sessions = 0;
  /** Collapse sessions begun and not ended: their state lives in the thread, which must not be stopped meanwhile. */
  #openSessions = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Why each thread that died did, for its collapse sessions' later jobs. */
  readonly #deaths = new WeakMap<Worker, PodflameError>();
  #closed = false;

  constructor(options: ProfileWorkerOptions = {}) {
    this.#options = options;
    this.#maxHeapMb = options.maxHeapMb ?? DEFAULT_WORKER_HEAP_MB;
    const share = options.collapseHeapShare ?? DEFAULT_COLLAPSE_HEAP_SHARE;
    if (!(share > 0 && share < 1)) {
      throw new PodflameError('INVALID_REQUEST', `collapseHeapShare must be between 0 and 1, got ${share}`);
    }
    this.#collapseHeapShare = share;
  }

  /**
   * Starts the thread, if it is not running, and waits until it answers: a worker that cannot load fails the agent's
   * start rather than its first capture.
   */
  async start(): Promise<void> {
    await this.#run({ kind: 'ping' });
    this.#stopWhenIdle();
  }

  /**
   * Renders one captured profile's answer (render-profile.ts `renderProfile`) in the thread. The stacks go as they
   * are kept, in shared memory; the answer comes back as UTF-8 bytes whose buffer the thread hands over: neither is
   * copied or cloned on this thread, which a profile of 100,000 stacks and its 30 MB answer would block for
   * hundreds of milliseconds.
   */
  async renderProfile(
    format: OutputFormat,
    metadata: ProfileMetadata,
    folded: FoldedBytes,
    render: RenderRequest,
    eventCounts?: EventCounts,
  ): Promise<RenderedProfile> {
    const job = { kind: 'render-profile' as const, format, metadata, folded, render };
    const answer = (await this.#run(eventCounts === undefined ? job : { ...job, eventCounts })) as {
      contentType: string;
      body: Uint8Array;
    };
    return { contentType: answer.contentType, body: asBuffer(answer.body) };
  }

  /** Jobs sent to the thread and not yet answered. */
  get jobsInFlight(): number {
    return this.#pending.size;
  }

  /**
   * shared/history-graphs.ts `renderMergedGraph` in the thread. The stacks (and event counts) go packed, in turns of
   * the event loop, and handed over (packed-stacks.ts): a Map posted as it is would be cloned in one piece on this
   * thread. Once `signal` is aborted (the caller went away), the job fails at once with its reason: see #run.
   */
  async renderMergedGraph(
    format: HistoryFormat,
    stacks: FoldedStacks,
    options: MergedGraphOptions,
    signal?: AbortSignal,
  ) {
    const { eventCounts, ...rest } = options;
    const packed = await packStacks(stacks, signal);
    const packedCounts = eventCounts ? await packStacks(eventCounts, signal) : undefined;
    const job: Job = {
      kind: 'render-merged',
      format,
      stacks: packed,
      ...(packedCounts ? { eventCounts: packedCounts } : {}),
      options: rest,
    };
    return asGraphAnswer(await this.#run(job, undefined, packedBuffers(packed, packedCounts), signal));
  }

  /** shared/history-graphs.ts `renderDiffGraph` in the thread; both sides go as renderMergedGraph's stacks do. */
  async renderDiffGraph(
    format: DiffFormat,
    base: FoldedStacks,
    target: FoldedStacks,
    options: DiffGraphOptions,
    signal?: AbortSignal,
  ) {
    const packedBase = await packStacks(base, signal);
    const packedTarget = await packStacks(target, signal);
    const job: Job = { kind: 'render-diff', format, base: packedBase, target: packedTarget, options };
    return asGraphAnswer(await this.#run(job, undefined, packedBuffers(packedBase, packedTarget), signal));
  }

  /**
   * Collapses `input` (perf script, Java-aware; or Flight Recorder files for a JFR event) in the thread, one chunk at a time: the next chunk is read only once
   * the thread has taken the previous one, so the stream's own backpressure bounds what waits in between. The stacks
   * come back within `limits`.
   */
  async collapse(
    input: AsyncIterable<Buffer>,
    limits: StackLimits,
    event: ProfileEvent = DEFAULT_PROFILE_EVENT,
    frequencyHz: number = DEFAULT_SAMPLING_OPTIONS.frequencyHz,
    durationSeconds?: number,
  ): Promise<WorkerCollapseResult> {
    const session = ++this.#sessions;
    // The session lives in one thread: if that thread dies, the session's later jobs fail as it did.
    const pin: Pin = {};
    this.#openSessions++;
    try {
      await this.#run({ kind: 'collapse-start', session, event, frequencyHz, durationSeconds }, pin);
      try {
        for await (const chunk of input) await this.#run({ kind: 'collapse-chunk', session, chunk }, pin);
      } catch (err) {
        await this.#run({ kind: 'collapse-abort', session }, pin).catch(() => undefined);
        throw err;
      }
      return (await this.#run({ kind: 'collapse-end', session, limits }, pin)) as WorkerCollapseResult;
    } finally {
      this.#openSessions--;
      this.#stopWhenIdle();
    }
  }

  /** Whether the thread is running now (tests). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** (Re)arms the idle stop: the thread goes once nothing has needed it for idleStopMs. */
  #stopWhenIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const idleStopMs = this.#options.idleStopMs ?? DEFAULT_WORKER_IDLE_STOP_MS;
    if (idleStopMs <= 0 || this.#worker === undefined || this.#pending.size > 0 || this.#openSessions > 0) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      const worker = this.#worker;
      if (worker === undefined || this.#pending.size > 0 || this.#openSessions > 0) return;
      this.#worker = undefined;
      void worker.terminate();
    }, idleStopMs);
    this.#idleTimer.unref();
  }

  /** Stops the thread; jobs in flight fail with AGENT_NOT_READY, later ones too. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) {
      this.#failAll(
        worker,
        new PodflameError('AGENT_NOT_READY', 'the agent is shutting down; the rendering was stopped'),
      );
      await worker.terminate();
    }
  }

  /**
   * Sends `job` to the thread; `transfer`: buffers of the job handed over to it rather than copied. Once `signal` is
   * aborted the job fails at once with its reason, and its answer, if it still comes, is dropped.
   */
  #run(job: Job, pin?: Pin, transfer: ArrayBuffer[] = [], signal?: AbortSignal): Promise<unknown> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) {
      return Promise.reject(new PodflameError('AGENT_NOT_READY', 'the agent is shutting down; retry in a moment'));
    }
    if (pin?.worker !== undefined && pin.worker !== this.#worker) {
      return Promise.reject(
        this.#deaths.get(pin.worker) ?? new PodflameError('INTERNAL', "the agent's profile worker stopped"),
      );
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const worker = this.#worker ?? this.#start();
    if (pin !== undefined) pin.worker = worker;
    const seq = ++this.#seq;
    // A job in flight keeps the process alive; an idle thread does not.
    if (this.#pending.size === 0) worker.ref();
    const answered = new Promise((resolve, reject) => {
      this.#pending.set(seq, { worker, resolve, reject });
      worker.postMessage({ ...job, seq } satisfies WorkerRequest, transfer);
    });
    if (signal === undefined) return answered;
    const onAbort = () => this.#abandon(seq, signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    return answered.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /**
   * Fails job `seq` with `reason` now (its caller went away: issue #13, cold attack 17 F5). A render runs in one
   * piece in the thread, so a thread with nothing else to do is stopped (a new one starts with the next job): the
   * merge gate's next turn then neither waits for a graph nobody reads nor queues behind it. A thread with other jobs
   * in flight, or a collapse session's state, finishes the render and its answer is dropped.
   */
  #abandon(seq: number, reason: unknown): void {
    const pending = this.#pending.get(seq);
    if (pending === undefined) return;
    this.#pending.delete(seq);
    const { worker } = pending;
    const alone = this.#openSessions === 0 && ![...this.#pending.values()].some((p) => p.worker === worker);
    if (this.#pending.size === 0) worker.unref();
    if (alone && this.#worker === worker) {
      this.#worker = undefined;
      this.#deaths.set(worker, new PodflameError('INTERNAL', "the agent's profile worker was stopped"));
      void worker.terminate();
    }
    pending.reject(reason as PodflameError);
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: {
        maxOldGenerationSizeMb: this.#maxHeapMb,
        maxYoungGenerationSizeMb: this.#options.maxYoungGenerationMb ?? DEFAULT_WORKER_YOUNG_GENERATION_MB,
      },
      workerData: { maxHeapMb: this.#maxHeapMb, collapseHeapShare: this.#collapseHeapShare } satisfies WorkerData,
      ...(this.#options.execArgv ? { execArgv: this.#options.execArgv } : {}),
    });
    worker.on('message', (reply: WorkerReply) => {
      if ('started' in reply) {
        this.#options.onRenderStarted?.();
        return;
      }
      const pending = this.#pending.get(reply.seq);
      this.#pending.delete(reply.seq);
      if (this.#pending.size === 0) worker.unref();
      if (reply.ok) pending?.resolve(reply.value);
      else pending?.reject(errorFromBody({ error: reply.error }, reply.error.message));
      if (this.#pending.size === 0) this.#stopWhenIdle();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(
        worker,
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new PodflameError(
              'PROFILE_TOO_LARGE',
              `the profile needed more than the ${this.#maxHeapMb} MiB the agent gives its profile worker; ` +
                'capture a shorter duration or at a lower frequency, or give the worker more heap (--worker-heap)',
              { details: { workerHeapMb: this.#maxHeapMb }, cause: err },
            )
          : new PodflameError('INTERNAL', `the agent's profile worker failed: ${err.message}`, { cause: err }),
      );
    });
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(worker, new PodflameError('INTERNAL', `the agent's profile worker stopped (exit code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  /** Rejects the jobs sent to `worker` (a thread that died: its successor's jobs are not its). */
  #failAll(worker: Worker, error: PodflameError): void {
    if (!this.#deaths.has(worker)) this.#deaths.set(worker, error);
    for (const [seq, p] of this.#pending) {
      if (p.worker !== worker) continue;
      this.#pending.delete(seq);
      p.reject(error);
    }
  }
}

/** A structured clone or a transfer turns a Buffer into a plain Uint8Array: a Buffer over the same memory. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** pprof's body comes back a Uint8Array: make it a Buffer again. */
function asGraphAnswer(value: unknown): GraphAnswer {
  const answer = value as { contentType: string; body: string | Uint8Array };
  if (typeof answer.body === 'string') return answer as GraphAnswer;
  return { ...answer, body: asBuffer(answer.body) };
}
