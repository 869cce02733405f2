/**
 * `podflame profile`: capture a flame graph of a running container. This file registers the command, picks the mode
 * and holds local mode, where the CLI talks to an agent at a known URL —
 *   podflame profile --agent http://127.0.0.1:7070 (--container-id ID | --pod-uid UID -c NAME) [-d 30s] [-F 99]
 *     [-o FILE] [--format svg|folded|pprof|speedscope|json] [--inlined]
 * The options every mode shares are in profile-options.ts; Kubernetes mode (`-n NS POD`, no --agent) in
 * profile-kube.ts.
 */
import type { Command } from 'commander';
import type { ZodTypeAny } from 'zod';
import type { CliIO } from '../io.js';
import { checkOutputWritable, writeOutput } from '../output-file.js';
import { AgentClient, stacksOfProfileJson, type ProfileAnswer } from '../../agent-client.js';
import { LIMITS, ProfileTargetSchema, type ProfileRequest } from '../../../shared/api.js';
import { PodflameError } from '../../../shared/errors.js';
import { formatProfile, PROFILE_FORMATS } from '../../profile-output.js';
import { addKubeProfileOptions, rejectKubeOnlyFlags, runKubeProfile, type ProfileKubeFlags } from './profile-kube.js';
import {
  addCommonProfileOptions,
  busyWaitMs,
  maxAnswerBytes,
  captureSettings,
  readFlagFile,
  reportBusyWait,
  startProgress,
  type ProfileFlags,
} from './profile-options.js';

export function addLocalProfileOptions(cmd: Command): Command {
  return cmd
    .option('--agent <url>', 'local mode: the agent to ask, e.g. http://127.0.0.1:7070')
    .option('--container-id <id>', 'local mode: the container ID (or a unique prefix of 12+ hex digits)')
    .option('--pod-uid <uid>', 'local mode: the pod UID (with -c NAME)')
    .option('--token-file <file>', 'local mode: bearer token for an agent started with --auth token');
}

const [POD_TARGET, CONTAINER_TARGET] = ProfileTargetSchema.options;

/**
 * A target field checked here with the agent's own rule, so that a mistake is a usage error naming the flag the user
 * typed (`--container-id`), not the agent's answer naming its API field (`target.containerId`).
 */
function checkTargetFlag(flag: string, value: string, schema: ZodTypeAny): void {
  const checked = schema.safeParse(value);
  if (checked.success) return;
  throw new PodflameError('USAGE', `${flag} must be ${checked.error.issues[0]?.message}, got '${value}'`);
}

/**
 * Formats the agent does not make: made here, as Kubernetes mode does, from the agent's JSON answer, which has each
 * stack's events beside its count (a lock profile's contentions: pprof's `contentions/count`), where folded text
 * has the count alone.
 */
const CLIENT_FORMATS = ['pprof', 'speedscope'] as const;
type ClientFormat = (typeof CLIENT_FORMATS)[number];

function clientFormat(format: string): ClientFormat | undefined {
  return (CLIENT_FORMATS as readonly string[]).includes(format) ? (format as ClientFormat) : undefined;
}

/** Local-mode flags → the request body for the agent. */
export function localProfileRequest(flags: ProfileFlags): ProfileRequest {
  if (!(PROFILE_FORMATS as readonly string[]).includes(flags.format)) {
    throw new PodflameError('USAGE', `--format must be one of ${PROFILE_FORMATS.join(', ')}, got '${flags.format}'`);
  }
  const { inlined, event, ...settings } = captureSettings({
    ...flags,
    format: clientFormat(flags.format) === undefined ? flags.format : 'json',
  });
  const target = (() => {
    if (flags.containerId !== undefined) {
      if (flags.podUid !== undefined || flags.container !== undefined) {
        throw new PodflameError('USAGE', 'give either --container-id ID, or --pod-uid UID with -c NAME, not both');
      }
      checkTargetFlag('--container-id', flags.containerId, CONTAINER_TARGET.shape.containerId);
      return { containerId: flags.containerId };
    }
    if (flags.podUid !== undefined) {
      if (flags.container === undefined) {
        throw new PodflameError('USAGE', '--pod-uid needs -c NAME: the name of the container in the pod to profile');
      }
      checkTargetFlag('--pod-uid', flags.podUid, POD_TARGET.shape.podUid);
      checkTargetFlag('-c', flags.container, POD_TARGET.shape.container);
      return { podUid: flags.podUid, container: flags.container };
    }
    throw new PodflameError('USAGE', 'say what to profile: --container-id ID, or --pod-uid UID -c NAME');
  })();
  // Sent only when asked for: an agent older than the option refuses any unknown field (strict validation).
  return {
    target,
    ...settings,
    ...(inlined ? { java: { inlined: true } } : {}),
    // Sent only when not cpu, for the same reason.
    ...(event !== 'cpu' ? { event } : {}),
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
  await writeOutput(answer.body, output, io);
  if (output !== undefined && output !== '-' && io.interactive) {
    io.stderr.write(`podflame: wrote ${output} (${describeAnswer(answer)})\n`);
  }
}

export async function runLocalProfile(flags: ProfileFlags, io: CliIO): Promise<void> {
  if (flags.agent === undefined) {
    throw new PodflameError('USAGE', 'give --agent URL: the podflame agent to ask (e.g. http://127.0.0.1:7070)');
  }
  const request = localProfileRequest(flags);
  await checkOutputWritable(flags.output, io);
  const maxBusyWaitMs = busyWaitMs(flags);
  const answerCap = maxAnswerBytes(flags);
  const token =
    flags.tokenFile === undefined
      ? undefined
      : (await readFlagFile(io, '--token-file', flags.tokenFile)).toString('utf8').split(/\r?\n/)[0]?.trim();
  const what = 'containerId' in request.target ? request.target.containerId.slice(0, 12) : request.target.container;
  const client = new AgentClient(flags.agent, {
    busyWaitMs: maxBusyWaitMs,
    ...(answerCap !== undefined ? { maxAnswerBytes: answerCap } : {}),
    onBusyWait: (wait) => reportBusyWait(io, what, wait),
    ...(flags.caFile !== undefined ? { ca: await readFlagFile(io, '--ca-file', flags.caFile) } : {}),
    ...(flags.insecureSendTokenOverHttp ? { insecureSendTokenOverHttp: true } : {}),
    ...(token ? { headers: { authorization: `Bearer ${token}`, 'x-podflame-authorization': `Bearer ${token}` } } : {}),
  });
  const stopProgress = startProgress(io, request.durationSeconds ?? LIMITS.durationSeconds.default, what);
  try {
    const answer = await client.profile(request, io.signal);
    stopProgress();
    const made = clientFormat(flags.format);
    if (made === undefined) {
      await writeProfileAnswer(answer, flags.output, io);
      return;
    }
    const { stacks, eventCounts } = stacksOfProfileJson(answer.body);
    const formatted = formatProfile(
      stacks,
      made,
      {
        title: flags.title ?? `container ${what}`,
        event: request.event ?? 'cpu',
        frequencyHz: request.frequencyHz ?? LIMITS.frequencyHz.default,
        durationSeconds: request.durationSeconds ?? LIMITS.durationSeconds.default,
      },
      eventCounts,
    );
    await writeProfileAnswer({ ...answer, body: formatted.body, contentType: formatted.contentType }, flags.output, io);
  } finally {
    stopProgress();
    await client.close();
  }
}

export function registerProfile(program: Command, io: CliIO): void {
  const cmd = program
    .command('profile')
    .description(
      'capture a flame graph (CPU, or with -e allocations, locks or wall-clock) of a pod, workload or selector (Kubernetes), or from one agent (--agent URL)',
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
