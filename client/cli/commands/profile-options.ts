/**
 * The options of `podflame profile` that every mode shares (-c, -d, -F, -o, --format, --title, --inlined, --ca-file,
 * --insecure-send-token-over-http, --busy-wait) and what both modes do with them: checked capture settings, flag files, busy-wait and progress lines.
 * Local mode (profile.ts) and Kubernetes mode (profile-kube.ts) build on it; neither imports the other's options.
 */
import {
  DEFAULT_PROFILE_EVENT,
  EVENT_KINDS,
  isProfileEvent,
  PROFILE_EVENTS,
  type ProfileEvent,
} from '../../../shared/profile-events.js';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { CliIO } from '../io.js';
import type { BusyWait } from '../../transport/busy-retry.js';
import { LIMITS, OUTPUT_FORMATS, type OutputFormat } from '../../../shared/api.js';
import { parseDurationSeconds } from '../../../shared/duration.js';
import { PodflameError } from '../../../shared/errors.js';
import { fileErrorReason } from '../../../shared/file-error.js';
import { eventOptionProblems, takesFrequency, WALL_MAX_FREQUENCY_HZ } from '../../../shared/event-options.js';
import { terminalSafe } from '../../../shared/terminal-safe.js';

/** Options of `podflame profile` whatever the route to the agent. */
export interface ProfileCommonFlags {
  container?: string;
  caFile?: string;
  /** `--insecure-send-token-over-http`. */
  insecureSendTokenOverHttp?: boolean;
  duration: string;
  /** `-F`; absent when not given (99 Hz then; alloc and lock take none). */
  frequency?: string;
  output?: string;
  format: string;
  title?: string;
  /** `--inlined`: ask for inlined Java frames. */
  inlined?: boolean;
  /** `-e, --event`: cpu (default), alloc, lock, wall. */
  event?: string;
  /** Default 60s (commander fills it in). */
  busyWait?: string;
  /** `--max-answer-bytes`: bytes, KiB, MiB or GiB; absent: the client's default (64 MiB). */
  maxAnswerBytes?: string;
}

/** Local mode: the agent's URL and the target as the agent's node knows it. */
export interface ProfileLocalFlags {
  agent?: string;
  tokenFile?: string;
  containerId?: string;
  podUid?: string;
}

export type ProfileFlags = ProfileCommonFlags & ProfileLocalFlags;

/** The capture settings every mode sends, validated here so a typo fails before any network call. */
export interface CaptureSettings {
  durationSeconds: number;
  /** Absent for alloc and lock, which are not sampled at a frequency. */
  frequencyHz?: number;
  format: OutputFormat;
  title?: string;
  /** Inlined Java frames (`java.inlined` of the request); false without `--inlined`. */
  inlined: boolean;
  /** What to record; cpu without `--event`. */
  event: ProfileEvent;
}

/** Help of `--event`: each event in a few words. */
export const EVENT_HELP =
  'what to record: ' +
  PROFILE_EVENTS.map((e) => `${e} (${EVENT_KINDS[e].description.split(':')[0]})`).join(', ') +
  "; alloc, lock and wall come from the JVM's Flight Recorder (JDK 8u272, 11+)";

/** Help of `--inlined`: what it does and what it costs the target. */
/** Help of `--insecure-send-token-over-http`: what it risks. */
export const INSECURE_TOKEN_HELP =
  'send your bearer token to agents that serve plain HTTP (refused otherwise): whoever answers at an agent address, ' +
  'or listens on the way, gets a credential the API server accepts as you';

export const INLINED_HELP =
  "name the methods the JIT inlined (frames tagged _[i]): loads podflame's JVMTI agent into the JVM; " +
  'on JDK 21+ the JVM logs a dynamic-agent warning';

/**
 * `-t D`, the same as `-d D`: kubectl-flame and kubectl-prof spell the duration `-t`, and their users type it. Commander
 * gives an option one short flag, so `-t` is an option of its own, hidden from the help (which names it under `-d`),
 * that sets the duration when it is parsed: the last of `-d` and `-t` wins, as for one flag given twice.
 */
function addDurationAlias(cmd: Command): Command {
  cmd.addOption(new Option('-t <duration>').hideHelp());
  cmd.on('option:t', (value: string) => cmd.setOptionValueWithSource('duration', value, 'cli'));
  return cmd;
}

export function addCommonProfileOptions(cmd: Command): Command {
  cmd
    .option('-c, --container <name>', 'the container to profile, by its name in the pod')
    .option('-d, --duration <duration>', 'how long to record: seconds, or 30s, 2m (1 s to 10 min; -t also)', '30');
  return addDurationAlias(cmd)
    .option(
      '-F, --frequency <hz>',
      `sampling frequency in Hz (${LIMITS.frequencyHz.min}-${LIMITS.frequencyHz.max}, default ` +
        `${LIMITS.frequencyHz.default}): perf's for cpu; for wall Flight Recorder's period in whole ms, at most ` +
        `${WALL_MAX_FREQUENCY_HZ} Hz; none for alloc and lock`,
    )
    .option('-o, --output <file>', 'write the result to FILE (default: stdout)')
    .option('--format <format>', `result format: ${OUTPUT_FORMATS.join(', ')}, pprof, speedscope`, 'svg')
    .option('--title <text>', 'flame graph title (default: namespace/pod/container)')
    .option('--inlined', INLINED_HELP)
    .option('-e, --event <event>', EVENT_HELP, DEFAULT_PROFILE_EVENT)
    .option(
      '--ca-file <file>',
      "CA certificate (PEM) that signed the agents' HTTPS certificates (default: ConfigMap podflame-agent-ca in the agents' namespace)",
    )
    .option('--insecure-send-token-over-http', INSECURE_TOKEN_HELP)
    .option(
      '--busy-wait <duration>',
      'how long to wait, asking again, while an agent is busy (another capture of the target, its capture limit); 0: fail at once',
      '60s',
    )
    .option(
      '--max-answer-bytes <size>',
      "the most of an agent's answer read (bytes, or e.g. 256MiB), beyond which the capture fails with " +
        'OUTPUT_TOO_LARGE (default 64MiB: what an agent with default limits sends at most)',
    );
}

/** Reads a file a flag names, relative to the working directory; a missing file is a clear usage error. */
export async function readFlagFile(io: CliIO, flag: string, file: string): Promise<Buffer> {
  const path = resolve(io.cwd, file);
  try {
    return await readFile(path);
  } catch (err) {
    throw new PodflameError('FILE_UNREADABLE', `cannot read ${flag} ${path}: ${fileErrorReason(err)}`, { cause: err });
  }
}

export function captureSettings(flags: ProfileCommonFlags): CaptureSettings {
  const seconds = parseDurationSeconds(flags.duration, '--duration');
  const { min, max } = LIMITS.durationSeconds;
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new PodflameError(
      'USAGE',
      `--duration must be whole seconds from ${min} s to ${max} s, got '${flags.duration}'`,
    );
  }
  const frequency = flags.frequency ?? String(LIMITS.frequencyHz.default);
  const hz = /^\d+$/.test(frequency) ? Number(frequency) : NaN;
  if (!(hz >= LIMITS.frequencyHz.min && hz <= LIMITS.frequencyHz.max)) {
    throw new PodflameError(
      'USAGE',
      `--frequency must be whole Hz from ${LIMITS.frequencyHz.min} to ${LIMITS.frequencyHz.max}, got '${frequency}'`,
    );
  }
  if (!(OUTPUT_FORMATS as readonly string[]).includes(flags.format)) {
    throw new PodflameError('USAGE', `--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${flags.format}'`);
  }
  const event = flags.event ?? DEFAULT_PROFILE_EVENT;
  if (!isProfileEvent(event)) {
    throw new PodflameError('USAGE', `--event must be one of ${PROFILE_EVENTS.join(', ')}, got '${event}'`);
  }
  // The agent checks the same (agent/server/validation.ts); here it fails before any network call.
  const problems = eventOptionProblems(
    event,
    {
      ...(flags.inlined !== undefined ? { inlined: flags.inlined } : {}),
      ...(flags.frequency !== undefined ? { frequencyHz: hz } : {}),
    },
    { inlined: '--inlined', frequencyHz: '--frequency' },
  );
  if (problems.length > 0) throw new PodflameError('USAGE', problems.join('; '));
  return {
    event,
    durationSeconds: seconds,
    ...(takesFrequency(event) ? { frequencyHz: hz } : {}),
    format: flags.format as OutputFormat,
    ...(flags.title !== undefined ? { title: flags.title } : {}),
    inlined: flags.inlined ?? false,
  };
}

/** `--busy-wait` in ms. */
export function busyWaitMs(flags: Pick<ProfileCommonFlags, 'busyWait'>): number {
  return Math.round(parseDurationSeconds(flags.busyWait ?? '60s', '--busy-wait') * 1000);
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** `--max-answer-bytes` in bytes, or undefined when not given (the client's default then). */
export function maxAnswerBytes(flags: Pick<ProfileCommonFlags, 'maxAnswerBytes'>): number | undefined {
  if (flags.maxAnswerBytes === undefined) return undefined;
  const match = /^(\d+)(KiB|MiB|GiB)?$/.exec(flags.maxAnswerBytes.trim());
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? 1) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new PodflameError(
      'USAGE',
      `--max-answer-bytes must be a whole number of bytes (at least 1), KiB, MiB or GiB, e.g. 256MiB, got '${flags.maxAnswerBytes}'`,
    );
  }
  return bytes;
}

/** One line per wait for a busy agent, on a terminal or in a log alike: a silent pause would look like a hang. */
export function reportBusyWait(io: CliIO, what: string, wait: BusyWait): void {
  const seconds = Math.max(1, Math.round(wait.delayMs / 1000));
  io.stderr.write(
    `${io.interactive ? '\r\x1b[K' : ''}podflame: ${what}: the agent is busy (${wait.code}: ` +
      // The agent's words: no escape sequence of theirs reaches the terminal (only the line reset above, ours).
      `${terminalSafe(wait.message)}); ` +
      `asking again in ${seconds} s\n`,
  );
}

/**
 * The progress line after `elapsedSeconds` of a request for a `durationSeconds` recording. The client has only its own
 * clock: the recording starts once the agent has started its capture container (under a second on an idle node, tens
 * of seconds on a busy one) and the graph comes after it, so the line counts the time since the request and never
 * says that the recording is over.
 */
export function progressText(elapsedSeconds: number, durationSeconds: number, what: string): string {
  return elapsedSeconds < durationSeconds
    ? `capturing ${what}: ${elapsedSeconds} s, the recording takes ${durationSeconds} s`
    : `capturing ${what}: ${elapsedSeconds} s, waiting for the agent to finish the ${durationSeconds} s recording and send the graph`;
}

/** progressText on one line of a terminal, rewritten each second; nothing when stderr is not a terminal. */
export function startProgress(io: CliIO, durationSeconds: number, what: string): () => void {
  if (!io.interactive) return () => undefined;
  const started = Date.now();
  let stopped = false;
  const draw = (): void => {
    const elapsed = Math.floor((Date.now() - started) / 1000);
    io.stderr.write(`\r\x1b[Kpodflame: ${progressText(elapsed, durationSeconds, what)}`);
  };
  draw();
  const timer = setInterval(draw, 1000);
  timer.unref();
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    io.stderr.write('\r\x1b[K');
  };
}
