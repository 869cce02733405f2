/**
 * One capture from request to folded stacks, in two steps with the caller's authorization between them: `resolve`
 * checks the request and finds its target; `start` admits it (one per container, a global limit), runs the capture,
 * streams its `perf script` output into the collapser, and turns every way it can fail into an error that carries
 * perf's or the runtime's own words — never an empty graph presented as a success. HTTP-free, so schedules (and
 * tests) use it as the routes do.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  EVENT_UNSUPPORTED_EXIT,
  type ContainerRuntime,
  type CaptureExit,
  type RunningCapture,
} from '../runtime/container-runtime.js';
import { EVENT_KINDS } from '../../shared/profile-events.js';
import {
  DEFAULT_JAVA_REQUEST,
  type CaptureTimings,
  type CaptureWarning,
  type ResolvedTarget,
  type ScheduleRef,
  type ValidProfileRequest,
} from '../../shared/api.js';
import { PodflameError, type ErrorCode } from '../../shared/errors.js';
import type { AgentMetrics } from '../metrics.js';
import { resolveTarget, targetTitle } from '../targets/resolve.js';
import { CaptureAdmission, type CaptureSlot } from './admission.js';
import { checkRenderOptions, collapseCaptureStream, type CaptureCollapser, type CollapsedCapture } from './pipeline.js';
import type { StackLimits } from './stack-limits.js';
import type { ProfileRecord, ProfileRegistry } from './profile-registry.js';

export interface CaptureServiceOptions {
  /** Named in every answer and message. */
  nodeName: string;
  /** This agent process's id, put on its capture containers' labels. */
  agentInstance: string;
  /** Captures at once (`--max-concurrent`). */
  maxConcurrent: number;
  /** Captures at once of one namespace's pods (`--namespace-max-concurrent`). Default `maxConcurrent`. */
  maxConcurrentPerNamespace?: number;
  /** perf script bytes read per capture (`--max-output-bytes`). */
  maxOutputBytes: number;
  /** Seconds a capture may run beyond its duration (`--request-timeout`). */
  timeoutMarginSeconds: number;
  /** What one profile may hold (`--max-stacks`, `--max-profile-bytes`): beyond it, its largest stacks are kept. */
  limits: StackLimits;
}

export interface CaptureServiceDeps {
  runtime: ContainerRuntime;
  registry: ProfileRegistry;
  metrics: AgentMetrics;
  logger: Logger;
  /** Clock in ms since epoch, for Retry-After and start times. Default Date.now. */
  now?: () => number;
  /** Where captures are collapsed (the agent's profile worker). Default: in this thread. */
  collapser?: CaptureCollapser;
}

/** Who asked for a capture, beyond the request itself: a schedule, or (absent) a caller of POST /v1/profiles. */
export interface CaptureOrigin {
  schedule?: ScheduleRef;
}

/** A request whose target has been found and checked, ready for `start` (after authorization, on the HTTP path). */
export interface ResolvedCapture {
  request: ValidProfileRequest;
  target: ResolvedTarget;
  /** performance.now() when resolving began: the capture's timings count from there. */
  startedAt: number;
}

/** What a capture is expected to take beyond its duration, for Retry-After (container start, perf map, render). */
const EXPECTED_OVERHEAD_MS = 2_000;
/** How long to wait for the runtime to remove an aborted capture container before giving its slot back anyway. */
const REMOVAL_GRACE_MS = 15_000;
/** Added to a Flight Recorder capture's time limit: starting it in a JVM for the first time loads it. */
const FLIGHT_RECORDER_START_SECONDS = 30;

function outcomeLabel(code: ErrorCode | 'ok'): string {
  return code.toLowerCase();
}

function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-n)
    .join(' | ');
}

export class CaptureService {
  readonly #deps: CaptureServiceDeps;
  readonly #options: CaptureServiceOptions;
  readonly #admission: CaptureAdmission;
  readonly #now: () => number;
  #closing = false;

  constructor(deps: CaptureServiceDeps, options: CaptureServiceOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#now = deps.now ?? Date.now;
    this.#admission = new CaptureAdmission(
      {
        maxConcurrent: options.maxConcurrent,
        ...(options.maxConcurrentPerNamespace !== undefined
          ? { maxPerNamespace: options.maxConcurrentPerNamespace }
          : {}),
      },
      this.#now,
    );
  }

  get inFlight(): number {
    return this.#admission.inFlight;
  }

  /**
   * Checks the request and finds its target (404, 409; the agent shutting down; render options the renderer would
   * refuse): everything that can refuse a capture before anyone is asked whether the caller may profile the target.
   * Its refusals are not counted here: the caller counts what it answers (`countRefusal`), which for a caller who
   * may not see the target is not what the target's resolution found.
   */
  async resolve(request: ValidProfileRequest, signal?: AbortSignal): Promise<ResolvedCapture> {
    const startedAt = performance.now();
    if (this.#closing) throw new PodflameError('AGENT_NOT_READY', 'the agent is shutting down; retry in a moment');
    // A renderer option it would refuse must fail now, not after the whole capture.
    checkRenderOptions(request.render ?? {});
    signal?.throwIfAborted();
    const { target } = await resolveTarget(this.#deps.runtime, request.target, this.#options.nodeName);
    return { request, target, startedAt };
  }

  /**
   * Counts a request refused before its capture ran (podflame_requests_rejected_total), by the code it was answered
   * with: resolution and authorization refusals as their caller tells them, admission refusals here.
   */
  countRefusal(err: unknown): void {
    if (err instanceof PodflameError) this.#deps.metrics.rejectedTotal.inc({ code: err.code });
  }

  /**
   * Admits the resolved capture and starts it, returning its record at once (status `running`). Refusals (429, the
   * caller gone) reject here, before any container exists; the capture's own outcome is in the record once
   * `record.settled` resolves. `signal`: the synchronous caller's connection; aborting it stops the capture.
   */
  async start(resolved: ResolvedCapture, signal?: AbortSignal, origin: CaptureOrigin = {}): Promise<ProfileRecord> {
    const { request, target, startedAt: t0 } = resolved;
    const { metrics, registry } = this.#deps;
    let slot: CaptureSlot;
    try {
      if (this.#closing) throw new PodflameError('AGENT_NOT_READY', 'the agent is shutting down; retry in a moment');
      signal?.throwIfAborted();
      const expectedEnd = this.#now() + request.durationSeconds * 1000 + EXPECTED_OVERHEAD_MS;
      slot = this.#admission.admit(target.containerId, expectedEnd, target.namespace, request.event);
    } catch (err) {
      this.countRefusal(err);
      throw err;
    }
    const resolveMs = performance.now() - t0;

    const id = randomUUID();
    const controller = new AbortController();
    const abort = (reason: PodflameError): void => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    // Flight Recorder's first recording in a JVM loads it (class loading, its threads): tens of seconds on a busy node.
    const startAllowance = request.event === 'cpu' ? 0 : FLIGHT_RECORDER_START_SECONDS;
    const timeoutSeconds = request.durationSeconds + this.#options.timeoutMarginSeconds + startAllowance;
    const timer = setTimeout(
      () =>
        abort(
          new PodflameError(
            'CAPTURE_TIMEOUT',
            `the capture did not finish within ${timeoutSeconds} s (its ${request.durationSeconds} s plus the agent's ` +
              `--request-timeout of ${this.#options.timeoutMarginSeconds} s` +
              `${startAllowance > 0 ? `, and ${startAllowance} s for Flight Recorder to start` : ''}); it was stopped`,
          ),
        ),
      timeoutSeconds * 1000,
    );
    const onClientGone = (): void =>
      abort(new PodflameError('CAPTURE_ABORTED', 'the client went away before the capture finished; it was stopped'));
    signal?.addEventListener('abort', onClientGone, { once: true });

    const record: ProfileRecord = {
      metadata: {
        id,
        status: 'running',
        node: this.#options.nodeName,
        target,
        startedAt: new Date(this.#now()).toISOString(),
        durationSeconds: request.durationSeconds,
        frequencyHz: request.frequencyHz,
        java: { inlined: request.java?.inlined ?? DEFAULT_JAVA_REQUEST.inlined },
        event: request.event,
        samples: 0,
        jitResolved: null,
        warnings: [],
        ...(origin.schedule ? { schedule: origin.schedule } : {}),
      },
      render: { ...request.render, ...(request.title !== undefined ? { title: request.title } : {}) },
      settled: Promise.resolve(),
      abort,
    };
    registry.add(record);
    metrics.capturesInFlight.inc();
    record.settled = this.#run(record, request, controller.signal, t0, resolveMs).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onClientGone);
      slot.release();
      metrics.capturesInFlight.dec();
      registry.markFinished(id);
    });
    return record;
  }

  async #run(
    record: ProfileRecord,
    request: ValidProfileRequest,
    signal: AbortSignal,
    t0: number,
    resolveMs: number,
  ): Promise<void> {
    const { runtime, metrics, logger } = this.#deps;
    const m = record.metadata;
    const tAdmitted = performance.now();
    let running: RunningCapture | undefined;
    let collapsed: CollapsedCapture | undefined;
    let exit: CaptureExit | undefined;
    let tStarted = tAdmitted;
    let tStreamEnd = tAdmitted;
    let failure: unknown;
    try {
      running = await runtime.runCapture(
        {
          targetContainerId: m.target.containerId,
          durationSeconds: request.durationSeconds,
          frequencyHz: request.frequencyHz,
          javaInlined: m.java.inlined,
          event: m.event,
          agentInstance: this.#options.agentInstance,
        },
        signal,
      );
      tStarted = performance.now();
      // Settled below in every case; this keeps an early rejection from being reported as unhandled meanwhile.
      running.done.catch(() => undefined);
      const stdout = running.stdout;
      // However the runtime ends the stream on abort, stop reading at once.
      const stopReading = (): void => void stdout.destroy();
      signal.addEventListener('abort', stopReading, { once: true });
      try {
        collapsed = await collapseCaptureStream(stdout, {
          maxBytes: this.#options.maxOutputBytes,
          onTooLarge: (error) => record.abort(error),
          limits: this.#options.limits,
          event: m.event,
          frequencyHz: request.frequencyHz,
          durationSeconds: request.durationSeconds,
          ...(this.#deps.collapser ? { collapser: this.#deps.collapser } : {}),
        });
      } finally {
        signal.removeEventListener('abort', stopReading);
        tStreamEnd = performance.now();
      }
      if (collapsed.unrecognizedLines > 0) metrics.collapseSkippedLinesTotal.inc(collapsed.unrecognizedLines);
      exit = await running.done;
    } catch (err) {
      failure = err;
      // The slot is given back only once the capture container is gone (or the runtime is given up on). When the
      // stream broke, the runtime's own account (the engine went away, ...) says more than the stream's error.
      if (running !== undefined) {
        const why = await this.#settleWithin(running.done, REMOVAL_GRACE_MS);
        if (why instanceof PodflameError && !(failure instanceof PodflameError)) failure = why;
      }
    }
    const tDone = performance.now();

    const warnings: CaptureWarning[] = [...(running?.warnings ?? []), ...(collapsed?.warnings ?? [])];
    m.warnings = warnings;
    m.timings = {
      resolve: Math.round(resolveMs),
      containerStart: Math.round(tStarted - tAdmitted),
      recordAndPerfmap: Math.round((collapsed?.firstByteAt ?? tStreamEnd) - tStarted),
      perfScript: Math.round(tStreamEnd - (collapsed?.firstByteAt ?? tStreamEnd)),
      collapse: Math.round(collapsed?.collapseMs ?? 0),
      exitAndRemove: Math.round(tDone - tStreamEnd),
      total: Math.round(tDone - t0),
      ...(exit?.timings ? { capture: exit.timings } : {}),
    } satisfies CaptureTimings;
    if (exit?.removeError !== undefined)
      logger.warn({ profileId: m.id, error: exit.removeError }, 'capture container left behind');

    try {
      if (signal.aborted) throw signal.reason;
      if (failure !== undefined) throw failure;
      const result = collapsed as CollapsedCapture;
      await this.#checkExit(exit as CaptureExit, record);
      const samples = result.foldedSamples;
      if (samples !== result.samples) {
        logger.warn({ profileId: m.id, folded: samples, counted: result.samples }, 'collapser sample count differs');
      }
      m.samples = samples;
      m.jitResolved = result.jitFrames > 0 ? result.jitFramesResolved / result.jitFrames : null;
      if (result.droppedStacks > 0) m.dropped = { stacks: result.droppedStacks, samples: result.droppedSamples };
      if (samples === 0) throw this.#noSamples(record, exit as CaptureExit);
      record.folded = result.folded;
      if (result.eventCounts !== undefined) record.eventCounts = result.eventCounts;
      m.status = 'done';
      m.finishedAt = new Date(this.#now()).toISOString();
      // The metric counts samples; an alloc or lock profile's weights are bytes and nanoseconds.
      if (EVENT_KINDS[m.event].unit === 'samples') metrics.samplesTotal.inc(samples);
      metrics.captureOverhead.observe(Math.max(0, (tDone - tAdmitted) / 1000 - request.durationSeconds));
      observePhases(metrics, m.timings);
      this.#count('ok', tDone - t0);
    } catch (err) {
      const error =
        err instanceof PodflameError
          ? err
          : new PodflameError(
              'CAPTURE_FAILED',
              `the capture failed: ${err instanceof Error ? err.message : String(err)}`,
              {
                cause: err,
              },
            );
      record.error = error;
      m.status = 'failed';
      m.finishedAt = new Date(this.#now()).toISOString();
      m.error = { code: error.code, message: error.message };
      this.#count(error.code, tDone - t0);
    }
  }

  #count(outcome: ErrorCode | 'ok', ms: number): void {
    this.#deps.metrics.capturesTotal.inc({ outcome: outcomeLabel(outcome) });
    this.#deps.metrics.captureDuration.observe({ outcome: outcomeLabel(outcome) }, ms / 1000);
  }

  /** Waits for `done` to settle, at most `ms`; resolves with its rejection reason, if any. */
  async #settleWithin(done: Promise<unknown>, ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<{ timeout: true }>((resolve) => {
      timer = setTimeout(() => resolve({ timeout: true }), ms);
    });
    const outcome = await Promise.race([
      done.then(
        () => ({ reason: undefined as unknown }),
        (reason: unknown) => ({ reason }),
      ),
      gaveUp,
    ]);
    clearTimeout(timer);
    if ('timeout' in outcome) {
      this.#deps.logger.error({ afterMs: ms }, 'the container runtime did not confirm removal of a capture container');
      return undefined;
    }
    return outcome.reason;
  }

  /** A non-zero exit is a failure, explained with the capture's own last words and the target's state. */
  async #checkExit(exit: CaptureExit, record: ProfileRecord): Promise<void> {
    if (exit.exitCode === 0) return;
    const m = record.metadata;
    // The runtime's own failure (the Docker engine stopping with the capture container) says more than the exit.
    const lost = await this.#deps.runtime.lostTarget(exit, targetTitle(m.target));
    if (lost !== undefined) throw lost;
    let targetState = 'unknown';
    try {
      const info = await this.#deps.runtime.inspectContainer(m.target.containerId);
      targetState = info.running ? 'running' : info.state;
    } catch {
      targetState = 'removed';
    }
    const said = lastLines(exit.stderrTail, 3);
    if (exit.exitCode === EVENT_UNSUPPORTED_EXIT) throw this.#eventUnsupported(record, exit);
    const reason =
      targetState === 'running'
        ? `the capture of ${targetTitle(m.target)} failed (exit code ${exit.exitCode})`
        : `the target ${targetTitle(m.target)} stopped during the capture (now ${targetState}), and the capture with it (exit code ${exit.exitCode})`;
    throw new PodflameError('CAPTURE_FAILED', said === '' ? reason : `${reason}: ${said}`, {
      details: { exitCode: exit.exitCode, targetState, stderrTail: exit.stderrTail, warnings: m.warnings },
    });
  }

  /** The capture script found no JVM that can record the event: its warnings say why for each JVM. */
  #eventUnsupported(record: ProfileRecord, exit: CaptureExit): PodflameError {
    const m = record.metadata;
    const why = m.warnings.filter((w) => w.code === 'EVENT_UNSUPPORTED').map((w) => w.message);
    const reason =
      why.length > 0
        ? why.join('; ')
        : `no JVM runs in it (${m.event} comes from a JVM's Flight Recorder, JDK 8u272, 11 and later; cpu profiles any process)`;
    return new PodflameError('EVENT_UNSUPPORTED', `${targetTitle(m.target)} cannot record ${m.event}: ${reason}`, {
      details: { event: m.event, warnings: m.warnings, stderrTail: exit.stderrTail },
    });
  }

  #noSamples(record: ProfileRecord, exit: CaptureExit): PodflameError {
    const m = record.metadata;
    const why = m.warnings.map((w) => w.message);
    if (m.event !== 'cpu') {
      return new PodflameError(
        'NO_SAMPLES',
        `the capture of ${targetTitle(m.target)} recorded no ${m.event} events in ${m.durationSeconds} s ` +
          `(${EVENT_KINDS[m.event].jfrEvents.join(', ')})${why.length > 0 ? `: ${why.join('; ')}` : ''}`,
        { details: { warnings: m.warnings, stderrTail: exit.stderrTail } },
      );
    }
    return new PodflameError(
      'NO_SAMPLES',
      `the capture of ${targetTitle(m.target)} recorded no samples in ${m.durationSeconds} s: its processes used no CPU, ` +
        `or perf could not see them${why.length > 0 ? ` (${why.join('; ')})` : ''}`,
      { details: { warnings: m.warnings, stderrTail: exit.stderrTail } },
    );
  }

  /** Stops every running capture and waits (bounded by the runtime's own 2 s) for their containers to go. */
  async close(): Promise<void> {
    this.#closing = true;
    const running = this.#deps.registry.running();
    for (const record of running) {
      record.abort(new PodflameError('AGENT_NOT_READY', 'the agent is shutting down; the capture was stopped'));
    }
    await Promise.all(running.map((r) => r.settled));
  }
}

/**
 * The capture script's phases that go into the metric (`segments` is a count of perf restarts, not a time). Its
 * timings line is read from a stream that also carries what perf and jattach print, so the label values are these
 * names only: a line shaped like it could otherwise add a series to /metrics per capture.
 */
const CAPTURE_SCRIPT_PHASES: ReadonlySet<string> = new Set([
  'checks',
  'perf-start',
  'recording',
  'maps',
  'perf-stop',
  'script',
  'dump',
]);

/** A successful capture's timings into `podflame_capture_phase_seconds`, the capture script's as `capture_<key>`. */
function observePhases(metrics: AgentMetrics, timings: CaptureTimings): void {
  const { capture, ...phases } = timings;
  for (const [phase, ms] of Object.entries(phases)) {
    if (typeof ms === 'number') metrics.capturePhase.observe({ phase }, ms / 1000);
  }
  for (const [key, ms] of Object.entries(capture ?? {})) {
    if (CAPTURE_SCRIPT_PHASES.has(key)) metrics.capturePhase.observe({ phase: `capture_${key}` }, ms / 1000);
  }
}
