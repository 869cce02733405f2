/**
 * `podflame profile`: capture a flame graph of a running container.
 *
 * Local mode (this file's part): the CLI talks to an agent at a known URL —
 *   podflame profile --agent http://127.0.0.1:7070 (--container-id ID | --pod-uid UID -c NAME) [-d 30s] [-F 99]
 *     [-o FILE] [--format svg|folded|json] [--inlined]
 * The options every mode shares (-c, -d, -F, -o, --format, --title, --inlined) are separate from the local-mode ones
 * (--agent, --container-id, --pod-uid), so Kubernetes routing (`-n NS POD`) can be added beside them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { AgentClient, type ProfileAnswer } from '../../agent-client.js';
import type { BusyWait } from '../../transport/busy-retry.js';
import { LIMITS, OUTPUT_FORMATS, type OutputFormat, type ProfileRequest } from '../../../shared/api.js';
import { parseDurationSeconds } from '../../../shared/duration.js';
import { PodflameError } from '../../../shared/errors.js';
import { addKubeProfileOptions, rejectKubeOnlyFlags, runKubeProfile, type ProfileKubeFlags } from './profile-kube.js';

/** Options of `podflame profile` whatever the route to the agent. */
export interface ProfileCommonFlags {
  container?: string;
  caFile?: string;
  duration: string;
  frequency: string;
  output?: string;
  format: string;
  title?: string;
  /** `--inlined`: ask for inlined Java frames. */
  inlined?: boolean;
  /** Default 60s (commander fills it in). */
  busyWait?: string;
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
  frequencyHz: number;
  format: OutputFormat;
  title?: string;
  /** Inlined Java frames (`java.inlined` of the request); false without `--inlined`. */
  inlined: boolean;
}

/** Help of `--inlined`: what it does and what it costs the target. */
export const INLINED_HELP =
  "name the methods the JIT inlined (frames tagged _[i]): loads podflame's JVMTI agent into the JVM; " +
  'on JDK 21+ the JVM logs a dynamic-agent warning';

export function addCommonProfileOptions(cmd: Command): Command {
  return cmd
    .option('-c, --container <name>', 'the container to profile, by its name in the pod')
    .option('-d, --duration <duration>', 'how long to record: seconds, or 30s, 2m (1 s to 10 min)', '30')
    .option(
      '-F, --frequency <hz>',
      `sampling frequency in Hz (${LIMITS.frequencyHz.min}-${LIMITS.frequencyHz.max})`,
      '99',
    )
    .option('-o, --output <file>', 'write the result to FILE (default: stdout)')
    .option(
      '--format <format>',
      `result format: ${OUTPUT_FORMATS.join(', ')} (Kubernetes mode also pprof, speedscope)`,
      'svg',
    )
    .option('--title <text>', 'flame graph title (default: namespace/pod/container)')
    .option('--inlined', INLINED_HELP)
    .option('--ca-file <file>', "CA certificate (PEM) that signed the agents' HTTPS certificates")
    .option(
      '--busy-wait <duration>',
      'how long to wait, asking again, while an agent is busy (another capture of the target, its capture limit); 0: fail at once',
      '60s',
    );
}

export function addLocalProfileOptions(cmd: Command): Command {
  return cmd
    .option('--agent <url>', 'local mode: the agent to ask, e.g. http://127.0.0.1:7070')
    .option('--container-id <id>', 'local mode: the container ID (or a unique prefix of 12+ hex digits)')
    .option('--pod-uid <uid>', 'local mode: the pod UID (with -c NAME)')
    .option('--token-file <file>', 'local mode: bearer token for an agent started with --auth token');
}

/** Reads a file a flag names, relative to the working directory; a missing file is a clear usage error. */
export async function readFlagFile(io: CliIO, flag: string, file: string): Promise<Buffer> {
  const path = resolve(io.cwd, file);
  try {
    return await readFile(path);
  } catch (err) {
    throw new PodflameError('FILE_UNREADABLE', `${flag} ${path}: ${(err as Error).message}`, { cause: err });
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
  const hz = /^\d+$/.test(flags.frequency) ? Number(flags.frequency) : NaN;
  if (!(hz >= LIMITS.frequencyHz.min && hz <= LIMITS.frequencyHz.max)) {
    throw new PodflameError(
      'USAGE',
      `--frequency must be whole Hz from ${LIMITS.frequencyHz.min} to ${LIMITS.frequencyHz.max}, got '${flags.frequency}'`,
    );
  }
  if (!(OUTPUT_FORMATS as readonly string[]).includes(flags.format)) {
    throw new PodflameError('USAGE', `--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${flags.format}'`);
  }
  return {
    durationSeconds: seconds,
    frequencyHz: hz,
    format: flags.format as OutputFormat,
    ...(flags.title !== undefined ? { title: flags.title } : {}),
    inlined: flags.inlined ?? false,
  };
}

/** Local-mode flags → the request body for the agent. */
export function localProfileRequest(flags: ProfileFlags): ProfileRequest {
  const { inlined, ...settings } = captureSettings(flags);
  const target = (() => {
    if (flags.containerId !== undefined) {
      if (flags.podUid !== undefined || flags.container !== undefined) {
        throw new PodflameError('USAGE', 'give either --container-id ID, or --pod-uid UID with -c NAME, not both');
      }
      return { containerId: flags.containerId };
    }
    if (flags.podUid !== undefined) {
      if (flags.container === undefined) {
        throw new PodflameError('USAGE', '--pod-uid needs -c NAME: the name of the container in the pod to profile');
      }
      return { podUid: flags.podUid, container: flags.container };
    }
    throw new PodflameError('USAGE', 'say what to profile: --container-id ID, or --pod-uid UID -c NAME');
  })();
  // Sent only when asked for: an agent older than the option refuses any unknown field (strict validation).
  return { target, ...settings, ...(inlined ? { java: { inlined: true } } : {}) };
}

/** `--busy-wait` in ms. */
export function busyWaitMs(flags: Pick<ProfileCommonFlags, 'busyWait'>): number {
  return Math.round(parseDurationSeconds(flags.busyWait ?? '60s', '--busy-wait') * 1000);
}

/** One line per wait for a busy agent, on a terminal or in a log alike: a silent pause would look like a hang. */
export function reportBusyWait(io: CliIO, what: string, wait: BusyWait): void {
  const seconds = Math.max(1, Math.round(wait.delayMs / 1000));
  io.stderr.write(
    `${io.interactive ? '\r\x1b[K' : ''}podflame: ${what}: the agent is busy (${wait.code}: ${wait.message}); ` +
      `asking again in ${seconds} s\n`,
  );
}

/** Seconds left, on one line of a terminal, rewritten each second; nothing when stderr is not a terminal. */
export function startProgress(io: CliIO, durationSeconds: number, what: string): () => void {
  if (!io.interactive) return () => undefined;
  const started = Date.now();
  let stopped = false;
  const draw = (): void => {
    const left = Math.max(0, durationSeconds - Math.floor((Date.now() - started) / 1000));
    const text = left > 0 ? `capturing ${what}: ${left} s left` : `capture done, waiting for the flame graph`;
    io.stderr.write(`\r\x1b[Kpodflame: ${text}`);
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

export function describeAnswer(answer: ProfileAnswer): string {
  const parts = [`${answer.samples ?? '?'} samples`];
  if (answer.jitResolved !== null) parts.push(`${(answer.jitResolved * 100).toFixed(1)}% of JIT frames named`);
  if (answer.node !== undefined) parts.push(`node ${answer.node}`);
  if (answer.profileId !== undefined) parts.push(`profile ${answer.profileId}`);
  return parts.join(', ');
}

/** Writes the result and the agent's warnings; resolves once all output is written. */
export async function writeProfileAnswer(answer: ProfileAnswer, output: string | undefined, io: CliIO): Promise<void> {
  for (const w of answer.warnings) io.stderr.write(`podflame: warning: ${w.message} [${w.code}]\n`);
  if (output !== undefined && output !== '-') {
    const path = resolve(io.cwd, output);
    try {
      await writeFile(path, answer.body);
    } catch (err) {
      throw new PodflameError('FILE_UNREADABLE', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (io.interactive) io.stderr.write(`podflame: wrote ${output} (${describeAnswer(answer)})\n`);
    return;
  }
  await new Promise<void>((done, fail) => io.stdout.write(answer.body, (err) => (err ? fail(err) : done())));
}

export async function runLocalProfile(flags: ProfileFlags, io: CliIO): Promise<void> {
  if (flags.agent === undefined) {
    throw new PodflameError('USAGE', 'give --agent URL: the podflame agent to ask (e.g. http://127.0.0.1:7070)');
  }
  const request = localProfileRequest(flags);
  const maxBusyWaitMs = busyWaitMs(flags);
  const token =
    flags.tokenFile === undefined
      ? undefined
      : (await readFlagFile(io, '--token-file', flags.tokenFile)).toString('utf8').split(/\r?\n/)[0]?.trim();
  const what = 'containerId' in request.target ? request.target.containerId.slice(0, 12) : request.target.container;
  const client = new AgentClient(flags.agent, {
    busyWaitMs: maxBusyWaitMs,
    onBusyWait: (wait) => reportBusyWait(io, what, wait),
    ...(flags.caFile !== undefined ? { ca: await readFlagFile(io, '--ca-file', flags.caFile) } : {}),
    ...(token ? { headers: { authorization: `Bearer ${token}`, 'x-podflame-authorization': `Bearer ${token}` } } : {}),
  });
  const stopProgress = startProgress(io, request.durationSeconds ?? LIMITS.durationSeconds.default, what);
  try {
    const answer = await client.profile(request, io.signal);
    stopProgress();
    await writeProfileAnswer(answer, flags.output, io);
  } finally {
    stopProgress();
    await client.close();
  }
}

export function registerProfile(program: Command, io: CliIO): void {
  const cmd = program
    .command('profile')
    .description(
      'capture a CPU flame graph of a pod, workload or selector (Kubernetes), or from one agent (--agent URL)',
    );
  addCommonProfileOptions(cmd);
  addLocalProfileOptions(cmd);
  addKubeProfileOptions(cmd);
  cmd.action(async (target: string | undefined, flags: ProfileFlags & ProfileKubeFlags) => {
    // --agent: local mode; otherwise the target is found through the Kubernetes API (profile-kube.ts).
    if (flags.agent !== undefined) {
      rejectKubeOnlyFlags(target, flags);
      await runLocalProfile(flags, io);
    } else await runKubeProfile(target, flags, io);
  });
}
