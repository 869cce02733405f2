/**
 * The client library: profile a pod, a workload or every pod matching a label selector by asking the podflame agent
 * on each pod's node, found and reached through the Kubernetes API.
 *
 *   const client = new PodflameClient({ kubeconfig: '/home/me/.kube/config', via: 'proxy' });
 *   const one = await client.profilePod({ namespace: 'shop', pod: 'shop-7d9f', durationSeconds: 30, format: 'svg' });
 *   const all = await client.profileSelector({ namespace: 'shop', workload: 'deploy/shop', format: 'pprof' });
 *   await client.close();
 *
 * A fan-out asks every running pod's agent for folded stacks (bounded concurrency, per node too), merges them
 * exactly — each stack's count is the sum of its per-pod counts — and reports every pod's outcome: one failing pod
 * does not lose the others.
 */
import {
  DEFAULT_PROFILE_EVENT,
  describeTotal,
  isProfileEvent,
  PROFILE_EVENTS,
  type ProfileEvent,
} from '../shared/profile-events.js';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { LIMITS, type CaptureWarning, type OutputFormat } from '../shared/api.js';
import { PodflameError, type ErrorCode } from '../shared/errors.js';
import { eventOptionProblems, takesFrequency } from '../shared/event-options.js';
import { mergeFolded, parseFolded, totalSamples, type EventCounts, type FoldedStacks } from '../shared/folded.js';
import { DEFAULT_AGENT_NAMESPACE, findAgentOnNode, listAgentPods, type AgentPod } from './kube/agent-discovery.js';
import { resolveApiCredentials, type ApiCredentials } from './kube/api-credentials.js';
import { KubeLookup, WORKLOAD_NAMES, type WorkloadKind } from './kube/kube-lookup.js';
import { loadKubeConfig } from './kube/kubeconfig.js';
import { podTarget, type PodTarget } from './kube/pod-target.js';
import { parseTargetSpec } from './kube/target-spec.js';
import { readAgentCa } from './kube/agent-ca.js';
import { AudienceTokenSource } from './kube/audience-token.js';
import { AgentRouter } from './routing/agent-router.js';
import { chooseAgentTls } from './routing/agent-tls.js';
import type { AgentRoute, AgentTlsOptions, Via } from './routing/agent-route.js';
import { runBounded } from './routing/bounded.js';
import { AgentTransport } from './transport/agent-transport.js';
import { DEFAULT_MAX_ANSWER_BYTES } from './transport/answer-limits.js';
import { DEFAULT_BUSY_RETRY_OPTIONS, type BusyWait } from './transport/busy-retry.js';
import { stacksOfProfileJson, type AnsweredStacks, type ProfileAnswer } from './transport/profile-answer.js';
import { formatProfile, PROFILE_FORMATS, type ProfileFormat } from './profile-output.js';

export { PROFILE_FORMATS, type ProfileFormat };

export interface PodflameClientOptions {
  /** A ready KubeConfig (e.g. from KubeConfig.loadFromOptions); when set, kubeconfig/context/env are ignored. */
  kubeConfig?: KubeConfig;
  /** Namespace used when a request names none; default: the kubeconfig context's namespace, else `default`. */
  namespace?: string;
  /** Kubeconfig file; default: env.KUBECONFIG, else ~/.kube/config (env.HOME), else in-cluster configuration. */
  kubeconfig?: string;
  /** Kubeconfig context; default: its current-context. */
  context?: string;
  /** Environment for finding the configuration (KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/PORT); default: empty. */
  env?: Readonly<Record<string, string | undefined>>;
  /** How to reach the agents: `direct` (pod IP), `proxy` (API server pod proxy) or `auto` (default). */
  via?: Via;
  /** Namespace of the agent DaemonSet's pods (default `podflame`). */
  agentNamespace?: string;
  /** Captures in flight at once in a fan-out (default 8). */
  concurrency?: number;
  /** Captures in flight at once on one node (default 4, the agent's default --max-concurrent). */
  concurrencyPerNode?: number;
  /** How long `auto` waits for a TCP connection to an agent pod (default 1000 ms). */
  probeTimeoutMs?: number;
  /** Close a node's connection pool after this long without requests (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Seconds to wait for an agent's answer beyond the capture duration (default 90). */
  answerGraceSeconds?: number;
  /**
   * HTTPS to the agents, verified with this CA. Default: the CA the cluster publishes (ConfigMap podflame-agent-ca in
   * the agents' namespace), else plain HTTP — which carries no bearer token unless `insecureSendTokenOverHttp`.
   */
  agentTls?: AgentTlsOptions;
  /**
   * Send the bearer token to agents that serve plain HTTP (direct, or through the API server's proxy) all the same:
   * whoever answers at an agent's address, or listens on the way, gets a credential the API server accepts as you.
   * Default false: such requests fail with INSECURE_TRANSPORT before anything is sent.
   */
  insecureSendTokenOverHttp?: boolean;
  /**
   * Send the agents a token minted for this audience (their `--token-audience`) with the TokenRequest API, instead
   * of the kubeconfig's: the API server refuses it, so no agent holds a credential good against the API server.
   * Needs a service account (create on its serviceaccounts/token). Default: the kubeconfig's token.
   */
  agentTokenAudience?: string;
  /** The service account to mint `agentTokenAudience` tokens for; default the caller's own (SelfSubjectReview). */
  agentTokenServiceAccount?: { namespace: string; name: string };
  /**
   * How long one pod's capture may wait for its busy agent (409 CAPTURE_IN_PROGRESS, 429) before that pod fails, in
   * ms; 0 fails at once. Default 60 000.
   */
  busyWaitMs?: number;
  /**
   * Bytes of one agent's answer read before that pod fails with OUTPUT_TOO_LARGE. Default 64 MiB
   * (DEFAULT_MAX_ANSWER_BYTES: what a default agent sends at most).
   */
  maxAnswerBytes?: number;
  /** Told before each wait for a busy agent, with the pod it is for (progress output). Default: nothing. */
  onBusyWait?: (wait: BusyWait & { namespace: string; pod: string }) => void;
  /**
   * The transport to send through; its owner closes it, and `idleTimeoutMs` and `concurrencyPerNode` do not shape
   * its pools. Default: one of this client's own.
   */
  transport?: AgentTransport;
}

export const DEFAULT_CLIENT_OPTIONS = Object.freeze({
  via: 'auto' as Via,
  agentNamespace: DEFAULT_AGENT_NAMESPACE,
  concurrency: 8,
  concurrencyPerNode: 4,
  probeTimeoutMs: 1000,
  idleTimeoutMs: 30_000,
  answerGraceSeconds: 90,
  busyWaitMs: DEFAULT_BUSY_RETRY_OPTIONS.maxWaitMs,
  maxAnswerBytes: DEFAULT_MAX_ANSWER_BYTES,
});

export interface CaptureSettings {
  /** Seconds to record (default 30). */
  durationSeconds?: number;
  /** Sampling frequency (default 99 Hz). */
  frequencyHz?: number;
  /** Output format (default `svg`). */
  format?: ProfileFormat;
  /** SVG title; default: what was profiled, the duration and the sample count. */
  title?: string;
  /**
   * Inlined Java frames: each agent loads podflame's JVMTI agent into the target's JVMs (on JDK 21+ the JVM logs a
   * dynamic-agent warning). Default false.
   */
  inlined?: boolean;
  /** What to record: cpu (default), or a JVM Flight Recorder event (alloc, lock, wall). */
  event?: ProfileEvent;
  /** Container to profile; default: the pod's only container or its kubectl default-container annotation. */
  container?: string;
  signal?: AbortSignal;
}

export interface ProfilePodRequest extends CaptureSettings {
  /** Default: the client's namespace. */
  namespace?: string;
  pod: string;
}

export interface ProfileSelectorRequest extends CaptureSettings {
  namespace?: string;
  /** Pods matching this label selector, e.g. `app=shop,tier!=cache`. */
  labelSelector?: string;
  /** Or the pods of a workload: `deploy/NAME`, `sts/NAME` or `ds/NAME`. */
  workload?: string;
  /** Put each pod's name at the root of its stacks instead of merging pods frame for frame (default false). */
  perPod?: boolean;
  /** Called as each pod's capture ends, in completion order. */
  onPodDone?: (outcome: PodOutcome) => void;
}

export interface PodOutcome {
  namespace: string;
  pod: string;
  /** `ok`: captured; `failed`: tried and failed (see error); `skipped`: not running, so not tried. */
  status: 'ok' | 'failed' | 'skipped';
  container?: string;
  node?: string;
  agentPod?: string;
  via?: 'direct' | 'proxy';
  profileId?: string;
  samples?: number;
  warnings: CaptureWarning[];
  error?: { code: ErrorCode; message: string };
}

export interface ProfileResult {
  format: ProfileFormat;
  contentType: string;
  /** File name extension for this format, e.g. `svg`, `pb.gz`. */
  extension: string;
  body: Buffer;
  /** The (merged) folded stacks; undefined when a single pod's SVG came straight from its agent. */
  stacks: FoldedStacks | undefined;
  /** Samples in the result: the sum over the pods that were captured. */
  samples: number;
  /** Every pod considered, sorted by name. */
  pods: PodOutcome[];
  /** Every pod's warnings, each prefixed with the pod's name in a fan-out. */
  warnings: CaptureWarning[];
}

interface Settings {
  durationSeconds: number;
  frequencyHz: number;
  format: ProfileFormat;
  inlined: boolean;
  event: ProfileEvent;
}

function settingsOf(req: CaptureSettings): Settings {
  const durationSeconds = req.durationSeconds ?? LIMITS.durationSeconds.default;
  const frequencyHz = req.frequencyHz ?? LIMITS.frequencyHz.default;
  const format = req.format ?? 'svg';
  const inlined = req.inlined ?? false;
  const event = req.event ?? DEFAULT_PROFILE_EVENT;
  if (!isProfileEvent(event)) {
    throw new PodflameError('USAGE', `The event must be one of ${PROFILE_EVENTS.join(', ')}, got ${String(event)}`);
  }
  const { min: dMin, max: dMax } = LIMITS.durationSeconds;
  if (!Number.isInteger(durationSeconds) || durationSeconds < dMin || durationSeconds > dMax) {
    throw new PodflameError(
      'USAGE',
      `The duration must be a whole number of seconds from ${dMin} to ${dMax}, got ${durationSeconds}`,
    );
  }
  const { min: fMin, max: fMax } = LIMITS.frequencyHz;
  if (!Number.isInteger(frequencyHz) || frequencyHz < fMin || frequencyHz > fMax) {
    throw new PodflameError(
      'USAGE',
      `The frequency must be a whole number of Hz from ${fMin} to ${fMax}, got ${frequencyHz}`,
    );
  }
  if (!(PROFILE_FORMATS as readonly string[]).includes(format)) {
    throw new PodflameError('USAGE', `The format must be one of ${PROFILE_FORMATS.join(', ')}, got ${String(format)}`);
  }
  if (typeof inlined !== 'boolean')
    throw new PodflameError('USAGE', `inlined must be true or false, got ${String(inlined)}`);
  const problems = eventOptionProblems(
    event,
    { inlined, ...(req.frequencyHz !== undefined ? { frequencyHz: req.frequencyHz } : {}) },
    { inlined: 'inlined', frequencyHz: 'frequencyHz' },
  );
  if (problems.length > 0) throw new PodflameError('USAGE', problems.join('; '));
  return { durationSeconds, frequencyHz, format, inlined, event };
}

export class PodflameClient {
  private readonly options: Readonly<
    Required<
      Omit<
        PodflameClientOptions,
        | 'kubeConfig'
        | 'namespace'
        | 'kubeconfig'
        | 'context'
        | 'env'
        | 'agentTls'
        | 'onBusyWait'
        | 'transport'
        | 'insecureSendTokenOverHttp'
        | 'agentTokenAudience'
        | 'agentTokenServiceAccount'
      >
    >
  >;
  readonly kubeConfig: KubeConfig;
  /** The namespace requests without one use. */
  readonly namespace: string;
  private readonly lookup: KubeLookup;
  /** Made on first use: it needs the agents' CA, which may have to be read from the cluster. */
  private router: Promise<AgentRouter> | undefined;
  private readonly routerOptions: Pick<PodflameClientOptions, 'agentTls' | 'insecureSendTokenOverHttp'>;
  private readonly agentTokens: AudienceTokenSource | undefined;
  private readonly transport: AgentTransport;
  /** Whether `close` closes the transport: only when this client made it. */
  private readonly ownsTransport: boolean;
  private closed = false;
  private readonly onBusyWait: PodflameClientOptions['onBusyWait'];

  constructor(options: PodflameClientOptions = {}) {
    const d = DEFAULT_CLIENT_OPTIONS;
    this.options = {
      via: options.via ?? d.via,
      agentNamespace: options.agentNamespace ?? d.agentNamespace,
      concurrency: options.concurrency ?? d.concurrency,
      concurrencyPerNode: options.concurrencyPerNode ?? d.concurrencyPerNode,
      probeTimeoutMs: options.probeTimeoutMs ?? d.probeTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? d.idleTimeoutMs,
      answerGraceSeconds: options.answerGraceSeconds ?? d.answerGraceSeconds,
      busyWaitMs: options.busyWaitMs ?? d.busyWaitMs,
      maxAnswerBytes: options.maxAnswerBytes ?? d.maxAnswerBytes,
    };
    this.onBusyWait = options.onBusyWait;
    if (!['direct', 'proxy', 'auto'].includes(this.options.via)) {
      throw new PodflameError('USAGE', `--via must be direct, proxy or auto, got ${String(this.options.via)}`);
    }
    for (const key of ['concurrency', 'concurrencyPerNode'] as const) {
      if (!Number.isInteger(this.options[key]) || this.options[key] < 1) {
        throw new PodflameError('USAGE', `${key} must be a whole number of at least 1, got ${this.options[key]}`);
      }
    }
    if (options.kubeConfig) {
      this.kubeConfig = options.kubeConfig;
      this.namespace =
        options.namespace ?? (this.kubeConfig.getContextObject(this.kubeConfig.currentContext)?.namespace || 'default');
    } else {
      const loaded = loadKubeConfig({
        ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
        ...(options.context !== undefined ? { context: options.context } : {}),
        ...(options.env ? { env: options.env } : {}),
      });
      this.kubeConfig = loaded.kubeConfig;
      this.namespace = options.namespace ?? loaded.namespace;
    }
    this.lookup = new KubeLookup(this.kubeConfig);
    this.routerOptions = {
      ...(options.agentTls ? { agentTls: options.agentTls } : {}),
      ...(options.insecureSendTokenOverHttp ? { insecureSendTokenOverHttp: true } : {}),
    };
    this.agentTokens =
      options.agentTokenAudience === undefined
        ? undefined
        : new AudienceTokenSource(this.kubeConfig, {
            audience: options.agentTokenAudience,
            ...(options.agentTokenServiceAccount ? { serviceAccount: options.agentTokenServiceAccount } : {}),
          });
    this.ownsTransport = options.transport === undefined;
    this.transport =
      options.transport ??
      new AgentTransport({
        idleTimeoutMs: this.options.idleTimeoutMs,
        connectionsPerAgent: this.options.concurrencyPerNode,
      });
  }

  /** Profiles one container of one pod. Throws a PodflameError saying what to do when it cannot. */
  async profilePod(request: ProfilePodRequest): Promise<ProfileResult> {
    this.assertOpen();
    const settings = settingsOf(request);
    const namespace = request.namespace ?? this.namespace;
    const pod = await this.lookup.readPod(namespace, request.pod);
    const target = podTarget(pod, request.container);
    const agent = await findAgentOnNode(this.lookup, this.options.agentNamespace, target.nodeName);
    const credentials = await this.agentCredentials();
    // The agent renders a single pod's SVG and folded text itself; other formats are made here from its stacks.
    const agentFormat = agentFormatFor(settings.format);
    const { answer, route } = await this.capture(target, agent, credentials, settings, agentFormat, request);
    const outcome = okOutcome(target, route, answer);
    if (agentFormat === 'svg') {
      return {
        format: 'svg',
        contentType: answer.contentType ?? 'image/svg+xml',
        extension: 'svg',
        body: answer.body,
        stacks: undefined,
        samples: answer.samples ?? 0,
        pods: [outcome],
        warnings: answer.warnings,
      };
    }
    const { stacks, eventCounts } = answeredStacks(agentFormat, answer.body);
    const title = request.title ?? `${namespace}/${target.pod} (${target.container}) on ${target.nodeName}`;
    return {
      ...formatProfile(
        stacks,
        settings.format,
        {
          title,
          event: settings.event,
          frequencyHz: settings.frequencyHz,
          durationSeconds: settings.durationSeconds,
        },
        eventCounts,
      ),
      stacks,
      samples: totalSamples(stacks),
      pods: [outcome],
      warnings: answer.warnings,
    };
  }

  /** Profiles every running pod matching a label selector or a workload, and merges them into one profile. */
  async profileSelector(request: ProfileSelectorRequest): Promise<ProfileResult> {
    this.assertOpen();
    const settings = settingsOf(request);
    const namespace = request.namespace ?? this.namespace;
    const { labelSelector, what } = await this.selectorOf(namespace, request);
    const pods = (await this.lookup.listPods(namespace, { labelSelector })).sort((a, b) =>
      compare(a.metadata?.name ?? '', b.metadata?.name ?? ''),
    );
    if (pods.length === 0) {
      throw new PodflameError(
        'POD_NOT_FOUND',
        `No pods match ${what} in namespace ${namespace}: check with kubectl -n ${namespace} get pods -l '${labelSelector}'`,
        { details: { namespace, labelSelector } },
      );
    }
    const outcomes = new Map<string, PodOutcome>();
    const running: V1Pod[] = [];
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '?';
      const phase = pod.status?.phase ?? 'Unknown';
      if (phase === 'Running' && pod.spec?.nodeName && !pod.metadata?.deletionTimestamp) running.push(pod);
      else {
        const why = pod.metadata?.deletionTimestamp ? 'terminating' : `${phase}, not Running`;
        const skipped: PodOutcome = {
          namespace,
          pod: name,
          status: 'skipped',
          warnings: [],
          error: { code: 'POD_NOT_RUNNING', message: `pod ${name} is ${why}` },
        };
        outcomes.set(name, skipped);
        request.onPodDone?.(skipped);
      }
    }
    if (running.length === 0) {
      throw new PodflameError(
        'POD_NOT_RUNNING',
        `None of the ${pods.length} pods matching ${what} in namespace ${namespace} is running: ` +
          [...outcomes.values()].map((o) => o.error?.message).join('; '),
        { details: { namespace, labelSelector, pods: [...outcomes.values()] } },
      );
    }
    const credentials = await this.agentCredentials();
    const agents = new Map<string, Promise<AgentPod>>();
    const agentFor = (node: string): Promise<AgentPod> => {
      let agent = agents.get(node);
      if (!agent) {
        agent = findAgentOnNode(this.lookup, this.options.agentNamespace, node);
        agents.set(node, agent);
      }
      return agent;
    };
    const tasks = running.map((pod) => ({
      key: pod.spec?.nodeName ?? '',
      run: async (): Promise<PodOutcome> => {
        const name = pod.metadata?.name ?? '?';
        let target: PodTarget | undefined;
        let outcome: PodOutcome;
        try {
          target = podTarget(pod, request.container);
          const agent = await agentFor(target.nodeName);
          const agentFormat = agentFormatFor(settings.format) === 'json' ? 'json' : 'folded';
          const { answer, route } = await this.capture(target, agent, credentials, settings, agentFormat, {
            ...(request.signal ? { signal: request.signal } : {}),
          });
          outcome = okOutcome(target, route, answer);
          Object.assign(outcome, answeredStacks(agentFormat, answer.body));
        } catch (err) {
          const e = err instanceof PodflameError ? err : new PodflameError('INTERNAL', String(err), { cause: err });
          outcome = {
            namespace,
            pod: name,
            status: 'failed',
            ...(target ? { container: target.container } : {}),
            ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
            warnings: [],
            error: { code: e.code, message: e.message },
          };
        }
        request.onPodDone?.(stripStacks(outcome));
        return outcome;
      },
    }));
    const settled = await runBounded(tasks, this.options.concurrency, this.options.concurrencyPerNode);
    const merged: FoldedStacks = new Map();
    // Contentions are summed only when every profiled pod's agent counted them (an older agent's answer has none).
    let mergedCounts: EventCounts | undefined = new Map();
    const warnings: CaptureWarning[] = [];
    for (const result of settled) {
      // Tasks catch their own errors; a rejection here would be a bug in the task itself.
      if (result.status === 'rejected') throw result.reason;
      const outcome = result.value as PodOutcome & Partial<AnsweredStacks>;
      if (outcome.stacks) {
        const root = request.perPod ? outcome.pod : undefined;
        mergeFolded(merged, outcome.stacks, root);
        mergedCounts =
          outcome.eventCounts && mergedCounts ? mergeFolded(mergedCounts, outcome.eventCounts, root) : undefined;
      }
      for (const w of outcome.warnings) warnings.push({ ...w, message: `${outcome.pod}: ${w.message}` });
      outcomes.set(outcome.pod, stripStacks(outcome));
    }
    const all = [...outcomes.values()].sort((a, b) => compare(a.pod, b.pod));
    const captured = all.filter((o) => o.status === 'ok');
    if (captured.length === 0)
      throw allFailed(
        all.filter((o) => o.status === 'failed'),
        what,
        namespace,
      );
    const title =
      request.title ??
      `${what} in ${namespace}: ${captured.length} of ${pods.length} pods${request.perPod ? ', per pod' : ''}`;
    const samples = totalSamples(merged);
    const missing = all.length - captured.length;
    const subtitle =
      (settings.event === 'cpu'
        ? `${settings.durationSeconds} s at ${settings.frequencyHz} Hz, ${samples} samples`
        : `${settings.event}, ${describeTotal(settings.event, samples)} in ${settings.durationSeconds} s`) +
      (settings.inlined ? ', inlined frames' : '') +
      (missing > 0 ? `; ${missing} pod${missing > 1 ? 's' : ''} not profiled` : '') +
      (warnings.length > 0 ? `; ${warnings.length} warning${warnings.length > 1 ? 's' : ''}` : '');
    return {
      ...formatProfile(
        merged,
        settings.format,
        {
          title,
          subtitle,
          event: settings.event,
          frequencyHz: settings.frequencyHz,
          durationSeconds: settings.durationSeconds,
        },
        mergedCounts,
      ),
      stacks: merged,
      samples,
      pods: all,
      warnings,
    };
  }

  /** Every agent pod in the agent namespace, sorted by node. */
  async listAgents(): Promise<AgentPod[]> {
    this.assertOpen();
    return listAgentPods(this.lookup, this.options.agentNamespace);
  }

  /** Every node's name, or undefined when the caller may not list nodes. */
  async listNodes(): Promise<string[] | undefined> {
    this.assertOpen();
    return this.lookup.listNodeNames();
  }

  /** Nodes (and origins) that have an open connection pool right now. */
  openPools(): string[] {
    return this.transport.openPools();
  }

  /** Closes the connection pools, when the transport is this client's own. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.ownsTransport) await this.transport.close();
  }

  /** The router, made once the agents' TLS is known (the CA given, else the one the cluster publishes). */
  private routerReady(): Promise<AgentRouter> {
    if (this.router) return this.router;
    const made = chooseAgentTls(
      this.routerOptions.agentTls,
      () => readAgentCa(this.kubeConfig, this.options.agentNamespace),
      this.routerOptions.insecureSendTokenOverHttp === true,
    ).then(
      (tls) =>
        new AgentRouter({
          via: this.options.via,
          probeTimeoutMs: this.options.probeTimeoutMs,
          ...(tls.agentTls ? { agentTls: tls.agentTls } : {}),
          tokenPolicy: tls.tokenPolicy,
        }),
    );
    this.router = made;
    // A failed lookup is not kept: the next capture asks again.
    made.catch(() => {
      if (this.router === made) this.router = undefined;
    });
    return made;
  }

  /** The API credentials, with the token for the agents replaced by an audience-bound one when asked for. */
  private async agentCredentials(): Promise<ApiCredentials> {
    const credentials = await resolveApiCredentials(this.kubeConfig);
    if (!this.agentTokens) return credentials;
    // Only the token meant for the agents changes: the API server still gets the kubeconfig's (proxy path).
    return { ...credentials, bearerToken: await this.agentTokens.token() };
  }

  private assertOpen(): void {
    if (this.closed) throw new PodflameError('INTERNAL', 'This PodflameClient has been closed');
  }

  private async selectorOf(
    namespace: string,
    request: ProfileSelectorRequest,
  ): Promise<{ labelSelector: string; what: string }> {
    if ((request.labelSelector === undefined) === (request.workload === undefined)) {
      throw new PodflameError(
        'USAGE',
        'Give exactly one of labelSelector (-l) or workload (deploy/NAME, sts/NAME, ds/NAME)',
      );
    }
    if (request.labelSelector !== undefined) {
      const spec = parseTargetSpec(undefined, request.labelSelector);
      if (spec.kind !== 'selector') throw new PodflameError('INTERNAL', 'unreachable');
      return { labelSelector: spec.labelSelector, what: `-l ${spec.labelSelector}` };
    }
    const spec = parseTargetSpec(request.workload, undefined);
    if (spec.kind !== 'workload') {
      throw new PodflameError('USAGE', `workload must be deploy/NAME, sts/NAME or ds/NAME, got ${request.workload}`);
    }
    const kind: WorkloadKind = spec.workload;
    return {
      labelSelector: await this.lookup.workloadSelector(namespace, kind, spec.name),
      what: `${WORKLOAD_NAMES[kind]} ${spec.name}`,
    };
  }

  private async capture(
    target: PodTarget,
    agent: AgentPod,
    credentials: ApiCredentials,
    settings: Settings,
    format: OutputFormat,
    extra: { signal?: AbortSignal; title?: string },
  ): Promise<{ answer: ProfileAnswer; route: AgentRoute }> {
    const { signal } = extra;
    const route = await (await this.routerReady()).route(agent, credentials, signal);
    const onBusyWait = this.onBusyWait;
    const answer = await this.transport.profile(
      route,
      {
        target: { podUid: target.podUid, container: target.container },
        durationSeconds: settings.durationSeconds,
        // Not for alloc and lock, which have none: the agent refuses one.
        ...(takesFrequency(settings.event) ? { frequencyHz: settings.frequencyHz } : {}),
        format,
        ...(extra.title !== undefined ? { title: extra.title } : {}),
        // Only when asked for: an agent older than the option refuses any unknown field.
        ...(settings.inlined ? { java: { inlined: true } } : {}),
        ...(settings.event !== 'cpu' ? { event: settings.event } : {}),
      },
      {
        timeoutMs: (settings.durationSeconds + this.options.answerGraceSeconds) * 1000,
        busyWaitMs: this.options.busyWaitMs,
        maxAnswerBytes: this.options.maxAnswerBytes,
        ...(onBusyWait
          ? { onBusyWait: (w) => onBusyWait({ ...w, namespace: target.namespace, pod: target.pod }) }
          : {}),
        ...(signal ? { signal } : {}),
      },
    );
    if (answer.node !== undefined && answer.node !== target.nodeName) {
      // The agent reached is not the one on the pod's node: its answer cannot be about this pod.
      throw new PodflameError(
        'AGENT_UNREACHABLE',
        `Asked the agent pod ${agent.name} for node ${target.nodeName}, but the agent that answered runs on node ` +
          `${answer.node}: check the agent pods' IPs and the DaemonSet's NODE_NAME (kubectl -n ${agent.namespace} get pods -o wide)`,
        { details: { expectedNode: target.nodeName, answeredNode: answer.node } },
      );
    }
    return { answer, route };
  }
}

function okOutcome(target: PodTarget, route: AgentRoute, answer: ProfileAnswer): PodOutcome {
  return {
    namespace: target.namespace,
    pod: target.pod,
    status: 'ok',
    container: target.container,
    node: answer.node ?? target.nodeName,
    agentPod: route.agentPod,
    via: route.via,
    ...(answer.profileId ? { profileId: answer.profileId } : {}),
    ...(answer.samples !== undefined ? { samples: answer.samples } : {}),
    warnings: answer.warnings,
  };
}

function stripStacks(outcome: PodOutcome & Partial<AnsweredStacks>): PodOutcome {
  const { stacks: _stacks, eventCounts: _eventCounts, ...rest } = outcome;
  return rest;
}

/**
 * What a pod's agent is asked for: SVG and folded text as they are; JSON for the formats made here from its stacks,
 * because only JSON carries each stack's events (a lock profile's contentions, for pprof's `contentions/count`).
 */
function agentFormatFor(format: ProfileFormat): OutputFormat {
  return format === 'svg' || format === 'folded' ? format : 'json';
}

function answeredStacks(agentFormat: OutputFormat, body: Buffer): AnsweredStacks {
  return agentFormat === 'json' ? stacksOfProfileJson(body) : { stacks: parseFolded(body.toString('utf8')).stacks };
}

function allFailed(failed: PodOutcome[], what: string, namespace: string): PodflameError {
  const codes = new Set(failed.map((o) => o.error?.code));
  const code: ErrorCode = codes.size === 1 ? (failed[0]?.error?.code ?? 'CAPTURE_FAILED') : 'CAPTURE_FAILED';
  return new PodflameError(
    code,
    `Every pod matching ${what} in namespace ${namespace} failed:\n` +
      failed.map((o) => `  ${o.pod}: ${o.error?.message ?? 'unknown error'}`).join('\n'),
    { details: { pods: failed } },
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Profiles one pod with a client made for this call and closed after it. */
export async function profilePod(
  request: ProfilePodRequest,
  options: PodflameClientOptions = {},
): Promise<ProfileResult> {
  const client = new PodflameClient(options);
  try {
    return await client.profilePod(request);
  } finally {
    await client.close();
  }
}

/** Profiles the pods of a selector or workload with a client made for this call and closed after it. */
export async function profileSelector(
  request: ProfileSelectorRequest,
  options: PodflameClientOptions = {},
): Promise<ProfileResult> {
  const client = new PodflameClient(options);
  try {
    return await client.profileSelector(request);
  } finally {
    await client.close();
  }
}
