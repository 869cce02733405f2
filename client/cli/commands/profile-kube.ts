/**
 * `podflame profile` in Kubernetes mode (no --agent): the pod, workload or selector is looked up through the
 * Kubernetes API and each pod's node agent is asked, directly or through the API server's pod proxy.
 *
 *   podflame profile -n shop shop-7d9f -c app -d 30s -o shop.svg
 *   podflame profile -n shop deploy/shop -d 1m --format pprof -o shop.pb.gz
 *   podflame profile -n shop -l app=shop --per-pod -o shop.svg
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { checkOutputWritable, writeOutput } from '../output-file.js';
import { PodflameError } from '../../../shared/errors.js';
import type { PodOutcome, ProfileResult } from '../../profile-pod.js';
import { PROFILE_FORMATS, type ProfileFormat } from '../../profile-output.js';
import { parseTargetSpec } from '../../kube/target-spec.js';
import { VIA_MODES, type Via } from '../../routing/agent-route.js';
import {
  addKubeConnectionOptions,
  connectionOptions,
  TOKEN_AUDIENCE_HELP,
  type KubeConnectionFlags,
} from './kube-options.js';
import {
  busyWaitMs,
  maxAnswerBytes,
  captureSettings,
  readFlagFile,
  reportBusyWait,
  startProgress,
  type ProfileFlags,
} from './profile-options.js';

/** Flags only Kubernetes mode has. */
export interface ProfileKubeFlags extends KubeConnectionFlags {
  namespace?: string;
  selector?: string;
  via: string;
  perPod?: boolean;
  concurrency: string;
  /** `--token-audience`: send the agents a token minted for this audience. */
  tokenAudience?: string;
}

export function addKubeProfileOptions(cmd: Command): Command {
  cmd
    .argument('[target]', 'POD, pod/NAME, deploy/NAME, sts/NAME or ds/NAME (Kubernetes mode)')
    .option('-n, --namespace <ns>', "the target's namespace (default: the context's namespace)")
    .option('-l, --selector <selector>', 'profile every running pod matching this label selector, merged')
    .option('--via <route>', `how to reach the agents: ${VIA_MODES.join(', ')}`, 'auto')
    .option('--per-pod', 'in a merged profile, put each pod name at the root of its stacks')
    .option('--concurrency <n>', 'captures in flight at once when profiling several pods', '8')
    .option('--token-audience <aud>', TOKEN_AUDIENCE_HELP);
  return addKubeConnectionOptions(cmd);
}

function parseVia(text: string): Via {
  if (!(VIA_MODES as readonly string[]).includes(text)) {
    throw new PodflameError('USAGE', `--via must be one of ${VIA_MODES.join(', ')}, got '${text}'`);
  }
  return text as Via;
}

function parseFormat(text: string): ProfileFormat {
  if (!(PROFILE_FORMATS as readonly string[]).includes(text)) {
    throw new PodflameError('USAGE', `--format must be one of ${PROFILE_FORMATS.join(', ')}, got '${text}'`);
  }
  return text as ProfileFormat;
}

function parseConcurrency(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 256))
    throw new PodflameError('USAGE', `--concurrency must be a whole number from 1 to 256, got '${text}'`);
  return n;
}

/** Local mode (--agent URL) talks to one agent and knows no pods by name: Kubernetes-only flags are a mistake there. */
export function rejectKubeOnlyFlags(target: string | undefined, flags: ProfileKubeFlags): void {
  const given = [
    target !== undefined ? `the target ${target}` : '',
    flags.namespace !== undefined ? '-n' : '',
    flags.selector !== undefined ? '-l' : '',
    flags.context !== undefined ? '--context' : '',
    flags.kubeconfig !== undefined ? '--kubeconfig' : '',
    flags.perPod ? '--per-pod' : '',
    flags.tokenAudience !== undefined ? '--token-audience' : '',
  ].filter((g) => g !== '');
  if (given.length > 0) {
    throw new PodflameError(
      'USAGE',
      `${given.join(', ')} ${given.length > 1 ? 'go' : 'goes'} with Kubernetes mode; with --agent URL name the ` +
        'container by --container-id ID or --pod-uid UID -c NAME',
    );
  }
}

export async function runKubeProfile(
  target: string | undefined,
  flags: ProfileFlags & ProfileKubeFlags,
  io: CliIO,
): Promise<void> {
  if (flags.containerId !== undefined || flags.podUid !== undefined) {
    throw new PodflameError(
      'USAGE',
      '--container-id and --pod-uid need --agent URL (local mode); in Kubernetes mode name the pod',
    );
  }
  if (flags.tokenFile !== undefined) {
    // Silently dropping it would send the kubeconfig's credentials while the user believes the token goes.
    throw new PodflameError(
      'USAGE',
      '--token-file is for --agent URL (local mode); in Kubernetes mode your kubeconfig credentials are sent to the agents',
    );
  }
  const format = parseFormat(flags.format);
  // Duration and frequency are checked as in local mode; the format list is wider here (pprof, speedscope are
  // made on the client from the agents' folded stacks).
  const { durationSeconds, frequencyHz, inlined, event } = captureSettings({ ...flags, format: 'folded' });
  const spec = parseTargetSpec(target, flags.selector);
  await checkOutputWritable(flags.output, io);
  // Loaded here, not at start-up: @kubernetes/client-node takes a second or two to import, which commands that
  // never talk to a cluster (collapse, render, local mode) should not pay.
  const { PodflameClient } = await import('../../profile-pod.js');
  const maxBusyWaitMs = busyWaitMs(flags);
  const answerCap = maxAnswerBytes(flags);
  const client = new PodflameClient({
    ...connectionOptions(flags, io),
    busyWaitMs: maxBusyWaitMs,
    ...(answerCap !== undefined ? { maxAnswerBytes: answerCap } : {}),
    onBusyWait: (wait) => reportBusyWait(io, `${wait.namespace}/${wait.pod}`, wait),
    via: parseVia(flags.via),
    concurrency: parseConcurrency(flags.concurrency),
    ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
    // HTTPS agents: their certificates are checked against this CA on the direct path.
    ...(flags.caFile !== undefined ? { agentTls: { ca: await readFlagFile(io, '--ca-file', flags.caFile) } } : {}),
    ...(flags.insecureSendTokenOverHttp ? { insecureSendTokenOverHttp: true } : {}),
    ...(flags.tokenAudience !== undefined ? { agentTokenAudience: flags.tokenAudience } : {}),
  });
  const common = {
    durationSeconds,
    ...(frequencyHz !== undefined ? { frequencyHz } : {}),
    format,
    inlined,
    event,
    signal: io.signal,
    ...(flags.container !== undefined ? { container: flags.container } : {}),
    ...(flags.title !== undefined ? { title: flags.title } : {}),
  };
  const what =
    spec.kind === 'pod'
      ? `${client.namespace}/${spec.name}`
      : spec.kind === 'workload'
        ? `${spec.workload}/${spec.name}`
        : `-l ${spec.labelSelector}`;
  const stopProgress = startProgress(io, durationSeconds, what);
  let result: ProfileResult;
  try {
    if (spec.kind === 'pod') {
      if (flags.perPod)
        throw new PodflameError('USAGE', '--per-pod needs several pods: give deploy/NAME, sts/NAME, ds/NAME or -l');
      result = await client.profilePod({ ...common, pod: spec.name });
    } else {
      result = await client.profileSelector({
        ...common,
        ...(spec.kind === 'selector'
          ? { labelSelector: spec.labelSelector }
          : { workload: `${spec.workload}/${spec.name}` }),
        perPod: flags.perPod === true,
      });
    }
  } finally {
    stopProgress();
    await client.close();
  }
  await writeOutput(result.body, flags.output, io);
  reportOutcomes(result, spec.kind !== 'pod', flags.output, io);
  const failed = result.pods.filter((o) => o.status === 'failed');
  if (failed.length > 0) {
    // The graph is written, but a script must be able to tell it lacks some pods.
    throw new PodflameError(
      'PARTIAL_CAPTURE',
      `${failed.length} of ${result.pods.length} pods could not be profiled (listed above); the graph holds the others`,
      { details: { failed: failed.map((o) => o.pod) } },
    );
  }
}

function outcomeLine(o: PodOutcome): string {
  if (o.status === 'ok') {
    return `  ok       ${o.pod}  container ${o.container}, node ${o.node} via ${o.via}, ${o.samples ?? '?'} samples`;
  }
  return `  ${o.status.padEnd(8)} ${o.pod}  ${o.error?.message ?? ''} [${o.error?.code ?? ''}]`;
}

/**
 * Warnings always (a graph must never look complete when it is not); the per-pod table of a fan-out always; the
 * "wrote FILE" line only on a terminal.
 */
function reportOutcomes(result: ProfileResult, fanOut: boolean, output: string | undefined, io: CliIO): void {
  for (const w of result.warnings) io.stderr.write(`podflame: warning: ${w.message} [${w.code}]\n`);
  if (fanOut) {
    const ok = result.pods.filter((o) => o.status === 'ok').length;
    io.stderr.write(`podflame: ${ok} of ${result.pods.length} pods profiled, ${result.samples} samples merged\n`);
    for (const o of result.pods) io.stderr.write(`${outcomeLine(o)}\n`);
  }
  if (output !== undefined && output !== '-' && io.interactive && !fanOut) {
    const [pod] = result.pods;
    io.stderr.write(
      `podflame: wrote ${output} (${result.samples} samples, ${pod?.namespace}/${pod?.pod} on node ${pod?.node})\n`,
    );
  }
}
