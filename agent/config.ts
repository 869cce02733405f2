/**
 * The agent's configuration: every flag, its `PODFLAME_*` environment variable and its default, parsed and validated
 * here once. A flag wins over its environment variable, which wins over the default. Later features add a field to
 * `AgentConfig`, a default, and one entry to `AGENT_OPTIONS` (reserved for them: --auth, --token-file, --kubeconfig,
 * --data-dir, --schedules, --pyroscope-url).
 */
import { parseArgs } from 'node:util';
import { PodflameError } from '../shared/errors.js';
import { parseDurationSeconds } from '../shared/duration.js';
import { packageVersion } from '../shared/package-version.js';
import { AUTH_MODES, type AuthMode } from './auth/identity.js';
import { assertAuthModeAllowed } from './auth/listen-guard.js';
import {
  DEFAULT_AUTHZ_RESOURCE,
  describeAuthzResource,
  parseAuthzResource,
  type AuthzResource,
} from './authz/resource.js';
import type { InClusterService } from './kube/in-cluster-endpoint.js';
import { RUNTIME_CHOICES, type RuntimeChoice } from './runtime/runtime-selection.js';
import type { ListenAddress } from './server/http-server.js';
import { DEFAULT_CONNECTION_LIMITS } from './server/connection-limits.js';
import { DEFAULT_SCHEDULER_OPTIONS } from './schedules/scheduler.js';
import { formatAge } from './schedules/schedule-config.js';
import { DEFAULT_WORKER_HEAP_MB } from './profiles/profile-worker.js';
import { DEFAULT_MAX_STACKS } from './profiles/stack-limits.js';
import { DEFAULT_PROFILE_STORE_OPTIONS } from './store/profile-store.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type { ListenAddress };

export interface AgentConfig {
  /** Where the HTTP API listens. Default `127.0.0.1:7070` (loopback only; the manifests set `0.0.0.0:7070`). */
  listen: ListenAddress;
  /** Docker engine socket. Default `/var/run/docker.sock`. */
  dockerSocket: string;
  /** Capture path: `docker`, `host` (/proc and cgroups, for containerd/CRI-O nodes), `auto` (Docker when its socket answers a ping, else host). Default `auto`. */
  runtime: RuntimeChoice;
  /** Host mode: the capture script the agent runs itself (perf and jattach on PATH). Default `/usr/local/bin/podflame-capture`. */
  captureScript: string;
  /** Host mode: the folder of podflame's native parts (JVMTI map agent, target-filesystem helper). Default `/usr/local/lib/podflame`. */
  nativeDir: string;
  /** Host mode: the host's /proc (the agent runs with hostPID). Default `/proc`. */
  procRoot: string;
  /** Image every capture container runs; from configuration only, never from a request. Default `podflame-perf:VERSION`, this agent's version. */
  captureImage: string;
  /**
   * Tag on this agent's captures (container label, process environment): the start-up cleanup of leftovers touches
   * only its own group's. One agent per node needs no other; several agents sharing one engine (tests, a second
   * install) each need their own. Default `true`.
   */
  captureGroup: string;
  /** Node name stated in every answer (`X-Podflame-Node`). Default `NODE_NAME`, else the host name. */
  nodeName: string;
  /** Captures running at once on this agent; more get 429. Default 4. */
  maxConcurrent: number;
  /** Captures running at once of one namespace's pods; more get 429 TOO_MANY_NAMESPACE_CAPTURES. Default 2. */
  namespaceMaxConcurrent: number;
  /** Bytes of `perf script` text read from one capture before it is stopped with OUTPUT_TOO_LARGE. Default 256 MiB. */
  maxOutputBytes: number;
  /** Distinct stacks one profile keeps; beyond them its largest are kept (warning PROFILE_TOO_LARGE). Default 100,000. */
  maxStacks: number;
  /** Bytes of stacks one profile keeps (each stack its length + 16); beyond them, as `maxStacks`. Default 32 MiB. */
  maxProfileBytes: number;
  /** Bytes of stacks the finished profiles of `GET /v1/profiles/:id` keep in all; the oldest go beyond. Default 64 MiB. */
  profilesMaxBytes: number;
  /**
   * Heap of the profile worker, the thread that collapses and draws (whole MiB). Captures being collapsed may hold
   * 60% of what its own code leaves of it together, the largest failing alone beyond; a render that would not fit
   * beside them fails alone. Default 192 MiB.
   */
  workerHeapBytes: number;
  /** Seconds a capture may take beyond its requested duration before it is stopped with CAPTURE_TIMEOUT. Default 60. */
  requestTimeoutSeconds: number;
  /** Finished profiles kept for `GET /v1/profiles/:id` (oldest evicted first). Default 32. */
  profileRetention: number;
  /** pino level. Default `info`. */
  logLevel: LogLevel;
  /** Who may call the API: `kubernetes` (TokenReview + SubjectAccessReview), `token`, `none` (loopback only). Default `none`. */
  auth: AuthMode;
  /** Static tokens for `--auth token` (kube-apiserver token file format). No default. */
  tokenFile?: string;
  /**
   * The agent's own kubeconfig for `--auth kubernetes`, the pods of its node (schedules' label selectors, host mode's
   * pod names). Default: the in-cluster service account when the agent runs in a pod, else none.
   */
  kubeconfig?: string;
  /** Permission a caller needs on the target pod with `--auth kubernetes`. Default `create pods/exec`. */
  authzResource: AuthzResource;
  /**
   * `--auth kubernetes` accepts only tokens bound to one of these audiences (TokenReview `spec.audiences`), minted
   * with the TokenRequest API; kubeconfig tokens for the API server are then refused. No default (any token the API
   * server accepts).
   */
  tokenAudiences?: string[];
  /** PEM certificate chain; with `tlsKey`, the API is served over HTTPS. No default (HTTP). */
  tlsCert?: string;
  /** PEM private key of `tlsCert`. */
  tlsKey?: string;
  /** API requests per caller per minute (token bucket, bursts up to the same number); 0 turns it off. Default 120. */
  rateLimitPerMinute: number;
  /**
   * Requests with refused credentials (or whose TokenReview failed) per client address per minute (token bucket,
   * bursts up to the same number), counted before authentication; beyond it such requests get 429 without a
   * TokenReview. 0 turns it off. Default 30.
   */
  authFailureLimitPerMinute: number;
  /** Seconds a client has to send its whole request (headers and body); slower ones get 408. Default 60. */
  readTimeoutSeconds: number;
  /**
   * Client connections open at once; beyond it new ones are closed as soon as accepted, but for a reserve of 32 for
   * addresses that hold none (kubelet's probes). 0 turns it off. Default 1024.
   */
  maxConnections: number;
  /** Client connections open at once from one address; beyond it that address's new ones are closed. 0 turns it off. Default 256. */
  maxConnectionsPerAddress: number;
  /** Continuous profiling: directory of the node-local profile store (a hostPath). No default (no history). */
  dataDir?: string;
  /** Continuous profiling: the schedules file (YAML, a mounted ConfigMap); needs `dataDir`. No default. */
  schedulesFile?: string;
  /** Continuous profiling: Pyroscope base URL every scheduled profile is pushed to; needs `dataDir`. No default. */
  pyroscopeUrl?: string;
  /** Stored profiles older than this are removed (a schedule's `retention` overrides it). Default 7 days. */
  storeMaxAgeSeconds: number;
  /**
   * Bytes the store keeps on disk (profiles, the dictionary lines they added, rollups, metadata); the largest
   * namespace's oldest profiles go beyond it. Default 1 GiB.
   */
  storeMaxBytes: number;
  /** Bytes of one day's stack dictionary; a profile beyond it is refused (STORE_DICTIONARY_FULL). Default 16 MiB. */
  storeMaxDictionaryBytes: number;
  /** Bytes one namespace keeps in the store; its own oldest profiles go beyond it. Default a quarter of `storeMaxBytes`. */
  namespaceMaxStoreBytes?: number;
  /** Longest `retention` a schedule may ask for (API or file). Default 30 days. */
  scheduleMaxRetentionSeconds: number;
  /** Schedules one namespace may have on this agent; more get 403 QUOTA_EXCEEDED. Default 10. */
  namespaceMaxSchedules: number;
  /** Upper bound of the random delay before each scheduled run, so nodes do not fire together. Default 10 s. */
  scheduleJitterSeconds: number;
  /** Schedule names as metric labels; off, every schedule series is `schedule="all"` (/metrics is open). Default off. */
  metricsScheduleNames: boolean;
  /**
   * The agent runs in a pod (`KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` are set): its Kubernetes access
   * is then the pod's service account when `--kubeconfig` is absent, its files in `PODFLAME_SERVICE_ACCOUNT_DIR`
   * (default /var/run/secrets/kubernetes.io/serviceaccount). Not a flag. Default: not in a cluster.
   */
  inCluster?: InClusterService;
  /** Host mode: the `PATH` the capture script gets (the agent's own, so it reaches perf and jattach). Not a flag. No default (a standard PATH). */
  capturePath?: string;
}

export const DEFAULT_AGENT_CONFIG: Readonly<Omit<AgentConfig, 'nodeName'>> = Object.freeze({
  listen: Object.freeze({ host: '127.0.0.1', port: 7070 }),
  dockerSocket: '/var/run/docker.sock',
  runtime: 'auto',
  captureScript: '/usr/local/bin/podflame-capture',
  nativeDir: '/usr/local/lib/podflame',
  procRoot: '/proc',
  // The tag the README's build and the manifests give it: a `latest` default met an agent with no such image.
  captureImage: `podflame-perf:${packageVersion()}`,
  captureGroup: 'true',
  maxConcurrent: 4,
  namespaceMaxConcurrent: 2,
  maxOutputBytes: 256 * 1024 ** 2,
  maxStacks: DEFAULT_MAX_STACKS,
  maxProfileBytes: 32 * 1024 ** 2,
  profilesMaxBytes: 64 * 1024 ** 2,
  workerHeapBytes: DEFAULT_WORKER_HEAP_MB * 1024 ** 2,
  requestTimeoutSeconds: 60,
  profileRetention: 32,
  logLevel: 'info',
  auth: 'none',
  authzResource: DEFAULT_AUTHZ_RESOURCE,
  rateLimitPerMinute: 120,
  authFailureLimitPerMinute: 30,
  readTimeoutSeconds: 60,
  maxConnections: DEFAULT_CONNECTION_LIMITS.maxConnections,
  maxConnectionsPerAddress: DEFAULT_CONNECTION_LIMITS.maxPerAddress,
  storeMaxAgeSeconds: 7 * 86400,
  storeMaxBytes: 1024 ** 3,
  storeMaxDictionaryBytes: DEFAULT_PROFILE_STORE_OPTIONS.maxDictionaryBytes,
  scheduleMaxRetentionSeconds: DEFAULT_SCHEDULER_OPTIONS.maxRetentionSeconds,
  namespaceMaxSchedules: DEFAULT_SCHEDULER_OPTIONS.maxSchedulesPerNamespace,
  scheduleJitterSeconds: 10,
  metricsScheduleNames: false,
});

export interface OptionSpec<K extends keyof AgentConfig = keyof AgentConfig> {
  key: K;
  flag: string;
  /** Environment variables read when the flag is absent, first set one wins. */
  env: readonly string[];
  placeholder: string;
  description: string;
  parse: (text: string, source: string) => AgentConfig[K];
  /**
   * The flag's meaning in the reference table of docs/agent-api.md (`npm run docs` writes it there), when it says
   * more than `--help`'s one line: the HTTP status and code it leads to, what it interacts with. Without the default,
   * which the table takes from `DEFAULT_AGENT_CONFIG` as `--help` does.
   */
  reference?: string;
  /** The default as `--help` prints it, in the flag's own syntax (`256MiB`, `7d`, `60s`, `off`); else as is. */
  show?: (value: AgentConfig[K]) => string;
}

function option<K extends keyof AgentConfig>(spec: OptionSpec<K>): OptionSpec {
  return spec as unknown as OptionSpec;
}

function invalid(source: string, expected: string, text: string): PodflameError {
  return new PodflameError('CONFIG_INVALID', `${source} must be ${expected}, got '${text}'`, {
    details: { option: source },
  });
}

// `on`/`off` (and `true`/`false`): a switch that can be set from the environment as well as on the command line.
function parseSwitch(text: string, source: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'on' || t === 'true') return true;
  if (t === 'off' || t === 'false') return false;
  throw invalid(source, 'on or off', text);
}

function parseInteger(min: number, max: number) {
  return (text: string, source: string): number => {
    const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw invalid(source, `a whole number from ${min} to ${max}`, text);
    return n;
  };
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

// e.g. `1073741824`, `512MiB`, `2G`
function parseBytes(text: string, source: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined || Number(m[1]) === 0) {
    throw invalid(source, 'a size in bytes such as 1073741824, 512MiB or 2GiB', text);
  }
  return Number(m[1]) * unit;
}

// The largest unit that divides the size, so `--help` prints a default as one would type it: 268435456 → 256MiB.
function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'none';
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const size = BYTE_UNITS[unit.toLowerCase()] as number;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

// Whole MiB (a worker's heap is set in MiB), at least 64 (the thread's own modules need some).
function parseWorkerHeap(text: string, source: string): number {
  const bytes = parseBytes(text, source);
  const mib = 1024 ** 2;
  if (bytes % mib !== 0 || bytes < 64 * mib || bytes > 16 * 1024 * mib) {
    throw invalid(source, 'a whole number of MiB from 64MiB to 16GiB, such as 384MiB', text);
  }
  return bytes;
}

function formatSeconds(seconds: number): string {
  return `${seconds}s`;
}

function formatSwitch(on: boolean): string {
  return on ? 'on' : 'off';
}

// e.g. `127.0.0.1:7070`, `0.0.0.0:7070`, `[::1]:0`
export function parseListenAddress(text: string, source = '--listen'): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw invalid(source, 'HOST:PORT such as 127.0.0.1:7070 or [::1]:7070', text);
  return { host: (m[1] ?? m[2]) as string, port };
}

function parseDuration(text: string, source: string): number {
  let seconds: number;
  try {
    seconds = parseDurationSeconds(text, source);
  } catch {
    throw invalid(source, 'a duration such as 60, 60s or 2m', text);
  }
  if (seconds < 1 || seconds > 3600) throw invalid(source, 'between 1 s and 1 h', text);
  return seconds;
}

// e.g. `36h`, `7d`, `2w`
function parseAge(text: string, source: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m?.[2] ?? 's') as 's'];
  if (!m || Number(m[1]) === 0) throw invalid(source, 'an age such as 36h or 7d', text);
  return Number(m[1]) * unit;
}

function parseNonEmpty(what: string) {
  return (text: string, source: string): string => {
    if (text.trim() === '' || /\s/.test(text.trim())) throw invalid(source, what, text);
    return text.trim();
  };
}

function parseAbsolutePath(text: string, source: string): string {
  const path = text.trim();
  if (!path.startsWith('/') || /\s/.test(path)) throw invalid(source, 'an absolute path', text);
  return path;
}

/** Every agent option, in the order `--help` lists them. */
export const AGENT_OPTIONS: readonly OptionSpec[] = [
  option({
    key: 'listen',
    flag: 'listen',
    env: ['PODFLAME_LISTEN'],
    placeholder: 'HOST:PORT',
    description: 'address of the HTTP API (port 0: any free port)',
    parse: parseListenAddress,
  }),
  option({
    key: 'dockerSocket',
    flag: 'docker-socket',
    env: ['PODFLAME_DOCKER_SOCKET'],
    placeholder: 'PATH',
    description: 'Docker engine socket',
    parse: parseNonEmpty('a socket path'),
  }),
  option({
    key: 'runtime',
    flag: 'runtime',
    env: ['PODFLAME_RUNTIME'],
    placeholder: 'RUNTIME',
    description: `capture path: ${RUNTIME_CHOICES.join(', ')} (auto: docker when its socket answers, else host)`,
    reference:
      'capture path: `docker`, `host` or `auto` (Docker when its socket answers at start-up, else host; say `docker` on Docker nodes so an engine restart at the wrong moment cannot switch it)',
    parse: (text, source) => {
      if (!(RUNTIME_CHOICES as readonly string[]).includes(text))
        throw invalid(source, `one of ${RUNTIME_CHOICES.join(', ')}`, text);
      return text as RuntimeChoice;
    },
  }),
  option({
    key: 'captureScript',
    flag: 'capture-script',
    env: ['PODFLAME_CAPTURE_SCRIPT'],
    placeholder: 'PATH',
    description: 'host mode: the capture script the agent runs itself (perf and jattach on PATH)',
    reference: 'host mode: the capture script the agent runs itself, with `perf` and `jattach` on PATH',
    parse: parseAbsolutePath,
  }),
  option({
    key: 'nativeDir',
    flag: 'native-dir',
    env: ['PODFLAME_NATIVE_DIR'],
    placeholder: 'DIR',
    description:
      "host mode: podflame's native parts (libpodflame-perfmap.so, the JVMTI map agent for JDK 8-16 and inlined frames; podflame-target-fs)",
    reference:
      "host mode: podflame's native parts, `libpodflame-perfmap.so` (the JVMTI map agent) and `podflame-target-fs`",
    parse: parseAbsolutePath,
  }),
  option({
    key: 'procRoot',
    flag: 'proc-root',
    env: ['PODFLAME_PROC_ROOT'],
    placeholder: 'DIR',
    description: "host mode: the host's /proc (run with hostPID)",
    reference: "host mode: the node's `/proc`, where containers are found by the IDs in `/proc/<pid>/cgroup`",
    parse: parseAbsolutePath,
  }),
  option({
    key: 'captureGroup',
    flag: 'capture-group',
    env: ['PODFLAME_CAPTURE_GROUP'],
    placeholder: 'NAME',
    description:
      "tag on this agent's captures; leftovers are cleaned up only within the group (for agents sharing an engine)",
    reference:
      "tag on this agent's captures (container label, process environment); the start-up cleanup of leftovers touches only its own group's, so several agents sharing one engine (a second install, tests) each need their own",
    parse: (text, source) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(text))
        throw invalid(source, 'letters, digits, _ . - (up to 63)', text);
      return text;
    },
  }),
  option({
    key: 'captureImage',
    flag: 'capture-image',
    env: ['PODFLAME_CAPTURE_IMAGE'],
    placeholder: 'IMAGE',
    description: 'image of the capture containers (built from Dockerfile.perf)',
    reference: 'image of the capture containers, never taken from a request',
    parse: parseNonEmpty('an image name such as podflame-perf:0.1.0'),
  }),
  option({
    key: 'nodeName',
    flag: 'node-name',
    env: ['PODFLAME_NODE_NAME', 'NODE_NAME'],
    placeholder: 'NAME',
    description: 'node name stated in every answer (default: the host name)',
    reference: 'node named in every answer (`X-Podflame-Node`) and scope of the leftover cleanup',
    parse: parseNonEmpty('a node name'),
  }),
  option({
    key: 'maxConcurrent',
    flag: 'max-concurrent',
    env: ['PODFLAME_MAX_CONCURRENT'],
    placeholder: 'N',
    description: 'captures running at once; more are refused with 429',
    reference: 'captures at once; more get 429 `TOO_MANY_CAPTURES`',
    parse: parseInteger(1, 256),
  }),
  option({
    key: 'namespaceMaxConcurrent',
    flag: 'namespace-max-concurrent',
    env: ['PODFLAME_NAMESPACE_MAX_CONCURRENT'],
    placeholder: 'N',
    description:
      "captures running at once of one namespace's pods (scheduled or not); more are refused with 429 TOO_MANY_NAMESPACE_CAPTURES",
    reference:
      "captures at once of one namespace's pods, on demand and scheduled together; more get 429 `TOO_MANY_NAMESPACE_CAPTURES` with `Retry-After`. A container outside any pod has no namespace and only `--max-concurrent` applies to it: only `--auth token`/`none` callers can name one, `--auth kubernetes` refuses it",
    parse: parseInteger(1, 256),
  }),
  option({
    key: 'maxOutputBytes',
    flag: 'max-output-bytes',
    env: ['PODFLAME_MAX_OUTPUT_BYTES'],
    placeholder: 'BYTES',
    description: 'perf script output read from one capture before it is stopped (e.g. 512MiB)',
    reference: 'perf script text read from one capture, e.g. `512MiB`; beyond it 507 `OUTPUT_TOO_LARGE`',
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'maxStacks',
    flag: 'max-stacks',
    env: ['PODFLAME_MAX_STACKS'],
    placeholder: 'N',
    description: 'distinct stacks one profile keeps; beyond them its largest are kept and the rest counted as one',
    reference:
      'distinct stacks one profile keeps; beyond them its largest are kept, the rest counted under the root frame `[dropped stacks]`, with a `PROFILE_TOO_LARGE` warning and `dropped` in its metadata',
    parse: parseInteger(2, 10_000_000),
  }),
  option({
    key: 'maxProfileBytes',
    flag: 'max-profile-bytes',
    env: ['PODFLAME_MAX_PROFILE_BYTES'],
    placeholder: 'BYTES',
    description: 'bytes of stacks one profile keeps; beyond them its largest are kept and the rest counted as one',
    reference: 'bytes of stacks one profile keeps (each stack its length + 16), as `--max-stacks`',
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'profilesMaxBytes',
    flag: 'profiles-max-bytes',
    env: ['PODFLAME_PROFILES_MAX_BYTES'],
    placeholder: 'BYTES',
    description: 'bytes of stacks the finished profiles kept in memory hold in all; the oldest are dropped beyond it',
    reference:
      'bytes of stacks the finished profiles of `GET /v1/profiles/:id` keep in all; the oldest are dropped beyond it',
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'workerHeapBytes',
    flag: 'worker-heap',
    env: ['PODFLAME_WORKER_HEAP'],
    placeholder: 'BYTES',
    description:
      'heap of the thread that collapses captures and draws graphs (e.g. 384MiB); captures being collapsed may hold ' +
      '60% of what its own code leaves of it together, beyond which the largest fails alone with PROFILE_TOO_LARGE',
    reference:
      "heap of the profile worker, the thread that collapses captures and draws graphs, in whole MiB, e.g. `384MiB`. The captures being collapsed may hold 60% of it (of what the thread's own code, some 5 MiB, leaves) together: beyond that the largest fails alone with 507 `PROFILE_TOO_LARGE`; a graph that would not fit beside them fails alone the same way. Raise it with the container's memory limit",
    show: formatBytes,
    parse: parseWorkerHeap,
  }),
  option({
    key: 'requestTimeoutSeconds',
    flag: 'request-timeout',
    env: ['PODFLAME_REQUEST_TIMEOUT'],
    placeholder: 'DURATION',
    description: 'time a capture may take beyond its requested duration (e.g. 60s, 2m)',
    reference: 'time a capture may take beyond its duration before 504 `CAPTURE_TIMEOUT`',
    show: formatSeconds,
    parse: parseDuration,
  }),
  option({
    key: 'profileRetention',
    flag: 'profile-retention',
    env: ['PODFLAME_PROFILE_RETENTION'],
    placeholder: 'N',
    description: 'finished profiles kept for GET /v1/profiles/:id',
    reference: 'finished profiles kept in memory for `GET /v1/profiles/:id`',
    parse: parseInteger(1, 10000),
  }),
  option({
    key: 'logLevel',
    flag: 'log-level',
    env: ['PODFLAME_LOG_LEVEL'],
    placeholder: 'LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    parse: (text, source) => {
      if (!(LOG_LEVELS as readonly string[]).includes(text))
        throw invalid(source, `one of ${LOG_LEVELS.join(', ')}`, text);
      return text as LogLevel;
    },
  }),
  option({
    key: 'auth',
    flag: 'auth',
    env: ['PODFLAME_AUTH'],
    placeholder: 'MODE',
    description: `authentication: ${AUTH_MODES.join(', ')} (none only on a loopback listen address)`,
    reference:
      '`kubernetes`, `token` or `none` (`none`: loopback listen addresses only; see [Security](security.md#who-can-call-it---auth))',
    parse: (text, source) => {
      if (!(AUTH_MODES as readonly string[]).includes(text))
        throw invalid(source, `one of ${AUTH_MODES.join(', ')}`, text);
      return text as AuthMode;
    },
  }),
  option({
    key: 'tokenFile',
    flag: 'token-file',
    env: ['PODFLAME_TOKEN_FILE'],
    placeholder: 'FILE',
    description: 'tokens for --auth token, one per line: token[,user[,uid[,"groups"]]]',
    reference: 'tokens for `--auth token`, one per line: `token[,user[,uid[,"groups"]]]`',
    parse: parseNonEmpty('a file path'),
  }),
  option({
    key: 'kubeconfig',
    flag: 'kubeconfig',
    env: ['PODFLAME_KUBECONFIG'],
    placeholder: 'FILE',
    description:
      "the agent's own access to the Kubernetes API: --auth kubernetes, schedules' pod labels, host mode's pod names; " +
      "when not given, the pod's in-cluster service account",
    reference:
      "the agent's own access to the API server: `--auth kubernetes`, schedules' pod labels, host mode's pod names (in-cluster service account when not given)",
    parse: parseNonEmpty('a file path'),
  }),
  option({
    key: 'authzResource',
    flag: 'authz-resource',
    env: ['PODFLAME_AUTHZ_RESOURCE'],
    placeholder: '[GROUP/]RESOURCE[/SUB]',
    description: 'what a caller must be allowed to create on the target pod, e.g. pods/exec or podflame.io/profiles',
    reference: 'what a caller must be allowed to `create` on the pod: `[GROUP/]RESOURCE[/SUB]`',
    parse: (text) => parseAuthzResource(text),
  }),
  option({
    key: 'tokenAudiences',
    flag: 'token-audience',
    env: ['PODFLAME_TOKEN_AUDIENCE'],
    placeholder: 'AUD[,AUD...]',
    description:
      '--auth kubernetes: accept only tokens bound to this audience (kubectl create token SA --audience AUD), so ' +
      'no token an agent receives is good at the API server; human kubeconfig tokens are then refused',
    reference:
      "`--auth kubernetes` accepts only tokens bound to one of these audiences (the TokenReview's `spec.audiences`, its `status.audiences` checked): tokens minted for the agents (`kubectl create token SA --audience AUD`, the client's `--token-audience`); kubeconfig tokens, good at the API server, are refused (not given: any token the API server accepts)",
    parse: (text, source) => {
      const audiences = text.split(',').map((a) => a.trim());
      if (audiences.some((a) => a === '' || /\s/.test(a))) throw invalid(source, 'audiences separated by commas', text);
      return audiences;
    },
  }),
  option({
    key: 'tlsCert',
    flag: 'tls-cert',
    env: ['PODFLAME_TLS_CERT'],
    placeholder: 'FILE',
    description: 'PEM certificate: serve HTTPS (with --tls-key)',
    reference:
      'serve HTTPS with this PEM certificate and the key of `--tls-key` (not given: plain HTTP; the manifests set both)',
    parse: parseNonEmpty('a file path'),
  }),
  option({
    key: 'tlsKey',
    flag: 'tls-key',
    env: ['PODFLAME_TLS_KEY'],
    placeholder: 'FILE',
    description: 'PEM private key of --tls-cert',
    reference: 'the PEM private key of `--tls-cert`',
    parse: parseNonEmpty('a file path'),
  }),
  option({
    key: 'rateLimitPerMinute',
    flag: 'rate-limit',
    env: ['PODFLAME_RATE_LIMIT'],
    placeholder: 'N',
    description: 'API requests per caller per minute (0: no limit)',
    reference:
      'API requests per caller per minute, bursts up to N; beyond it 429 `RATE_LIMITED` with `Retry-After`; 0 is off',
    parse: parseInteger(0, 1_000_000),
  }),
  option({
    key: 'authFailureLimitPerMinute',
    flag: 'auth-failure-limit',
    env: ['PODFLAME_AUTH_FAILURE_LIMIT'],
    placeholder: 'N',
    description:
      'requests with refused credentials (or whose TokenReview failed) per client address per minute, before ' +
      'authentication (0: no limit)',
    reference:
      "requests with refused credentials (or whose TokenReview failed) per client address per minute, bursts up to N, counted before authentication; beyond it that address's requests with unknown credentials get 429 `RATE_LIMITED` without a TokenReview; 0 is off",
    parse: parseInteger(0, 1_000_000),
  }),
  option({
    key: 'readTimeoutSeconds',
    flag: 'read-timeout',
    env: ['PODFLAME_READ_TIMEOUT'],
    placeholder: 'DURATION',
    description: 'time a client has to send its whole request; slower clients get 408 (e.g. 30s)',
    reference: 'time a client has to send its whole request; slower ones get 408 and are disconnected',
    show: formatSeconds,
    parse: parseDuration,
  }),
  option({
    key: 'maxConnections',
    flag: 'max-connections',
    env: ['PODFLAME_MAX_CONNECTIONS'],
    placeholder: 'N',
    description:
      'client connections open at once; more are closed as soon as accepted, but for a reserve of ' +
      `${DEFAULT_CONNECTION_LIMITS.reserved} for addresses that hold none (kubelet's probes) (0: no limit)`,
    reference:
      "client connections open at once; more are closed as soon as they are accepted, but for a reserve of 32 for addresses that hold none (kubelet's probes, a curl on the node); 0 is off",
    parse: parseInteger(0, 1_000_000),
  }),
  option({
    key: 'maxConnectionsPerAddress',
    flag: 'max-connections-per-address',
    env: ['PODFLAME_MAX_CONNECTIONS_PER_ADDRESS'],
    placeholder: 'N',
    description:
      "client connections open at once from one address (through the API server's pod proxy, all callers share " +
      "the API server's) (0: no limit)",
    reference:
      "client connections open at once from one address (IPv4-mapped IPv6 counted as IPv4); more from it are closed as soon as they are accepted. Through the API server's pod proxy every caller shares the API server's address; 0 is off",
    parse: parseInteger(0, 1_000_000),
  }),
  option({
    key: 'dataDir',
    flag: 'data-dir',
    env: ['PODFLAME_DATA_DIR'],
    placeholder: 'DIR',
    description: 'node-local profile store: turns on continuous profiling (schedules, history queries)',
    reference: 'the node-local store (a hostPath in the DaemonSet); turns continuous profiling on',
    parse: parseNonEmpty('a directory path'),
  }),
  option({
    key: 'schedulesFile',
    flag: 'schedules',
    env: ['PODFLAME_SCHEDULES'],
    placeholder: 'FILE',
    description: 'schedules file (YAML, `schedules:` list); needs --data-dir',
    reference: 'the schedules file, YAML (a mounted ConfigMap); re-read every 30 s; needs `--data-dir`',
    parse: parseNonEmpty('a file path'),
  }),
  option({
    key: 'pyroscopeUrl',
    flag: 'pyroscope-url',
    env: ['PODFLAME_PYROSCOPE_URL'],
    placeholder: 'URL',
    description: 'push every scheduled profile to Pyroscope (e.g. http://pyroscope:4040); needs --data-dir',
    reference: 'push every scheduled profile to Pyroscope; needs `--data-dir`',
    parse: parseNonEmpty('a URL such as http://pyroscope:4040'),
  }),
  option({
    key: 'storeMaxAgeSeconds',
    flag: 'store-max-age',
    env: ['PODFLAME_STORE_MAX_AGE'],
    placeholder: 'AGE',
    description: 'stored profiles older than this are removed (e.g. 36h, 7d)',
    reference: 'stored profiles older than this are removed, e.g. `36h`',
    show: formatAge,
    parse: parseAge,
  }),
  option({
    key: 'storeMaxBytes',
    flag: 'store-max-bytes',
    env: ['PODFLAME_STORE_MAX_BYTES'],
    placeholder: 'BYTES',
    description:
      'bytes the profile store keeps on disk; beyond it the oldest profiles of the namespace holding the most go (e.g. 2GiB)',
    reference:
      'bytes the store keeps on disk (profiles, the dictionary lines they added, rollups, metadata); beyond it the oldest profiles of the namespace holding the most bytes go, e.g. `2GiB`',
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'storeMaxDictionaryBytes',
    flag: 'store-max-dictionary-bytes',
    env: ['PODFLAME_STORE_MAX_DICTIONARY_BYTES'],
    placeholder: 'BYTES',
    description:
      "bytes of one day's stack dictionary in the profile store; a profile whose new stacks would grow it beyond is refused (STORE_DICTIONARY_FULL) (e.g. 128MiB)",
    reference:
      "bytes of one day's stack dictionary; a profile whose new stacks would grow it beyond is refused, 507 `STORE_DICTIONARY_FULL`, e.g. `64MiB` (a day of many pods' stacks is a few MB; in memory a dictionary takes several times its file)",
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'namespaceMaxStoreBytes',
    flag: 'namespace-max-store-bytes',
    env: ['PODFLAME_NAMESPACE_MAX_STORE_BYTES'],
    placeholder: 'BYTES',
    description:
      "bytes of profile data one namespace keeps; beyond it that namespace's own oldest profiles go, never another's (e.g. 256MiB)",
    reference:
      "bytes of profile data (pairs and the dictionary lines they added) one namespace keeps; beyond it that namespace's own oldest profiles go, never another's, e.g. `256MiB`",
    show: formatBytes,
    parse: parseBytes,
  }),
  option({
    key: 'scheduleMaxRetentionSeconds',
    flag: 'schedule-max-retention',
    env: ['PODFLAME_SCHEDULE_MAX_RETENTION'],
    placeholder: 'AGE',
    description:
      'longest retention a schedule may ask for; a PUT asking more is refused with 400, a schedules file asking more is not loaded (e.g. 14d)',
    reference:
      'longest `retention` a schedule may ask for: a `PUT` asking more is 400 naming the maximum, a schedules file asking more is not loaded',
    show: formatAge,
    parse: parseAge,
  }),
  option({
    key: 'namespaceMaxSchedules',
    flag: 'namespace-max-schedules',
    env: ['PODFLAME_NAMESPACE_MAX_SCHEDULES'],
    placeholder: 'N',
    description:
      "schedules one namespace may have on this agent; a PUT beyond it is refused with 403 QUOTA_EXCEEDED (the file's schedules count toward it, but are never refused)",
    reference:
      "schedules one namespace may have on an agent; a `PUT` beyond it is 403 `QUOTA_EXCEEDED` (the file's schedules count toward it, but are never refused)",
    parse: parseInteger(1, 10000),
  }),
  option({
    key: 'metricsScheduleNames',
    flag: 'metrics-schedule-names',
    env: ['PODFLAME_METRICS_SCHEDULE_NAMES'],
    placeholder: 'on|off',
    description:
      'label the schedule metrics with schedule namespaces and names; off, they carry schedule="all", since /metrics needs no token and names say what others profile',
    reference:
      '`on` or `off`: label the schedule metrics with schedule namespaces and names; off, every series is `schedule="all"`, because `/metrics` needs no token and names say what other teams profile',
    show: formatSwitch,
    parse: parseSwitch,
  }),
  option({
    key: 'scheduleJitterSeconds',
    flag: 'schedule-jitter',
    env: ['PODFLAME_SCHEDULE_JITTER'],
    placeholder: 'DURATION',
    description: 'largest random delay before a scheduled run, so nodes do not fire together (0 turns it off)',
    reference: 'largest random delay before a scheduled run, so nodes do not fire together; `0` turns it off',
    show: formatSeconds,
    parse: (text, source) => {
      if (text.trim() === '0') return 0;
      return parseDuration(text, source);
    },
  }),
];

export interface ConfigSources {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Default node name when neither the flag nor the environment sets one. */
  hostname: string;
}

export type ParsedAgentCommandLine =
  { kind: 'help'; text: string } | { kind: 'version' } | { kind: 'config'; config: AgentConfig };

/** An option's default as `--help` and docs/agent-api.md's table print it (`hostname`: the node name's). */
export function defaultText(spec: OptionSpec, hostname: string): string {
  if (spec.key === 'nodeName') return hostname;
  const value = DEFAULT_AGENT_CONFIG[spec.key as Exclude<keyof AgentConfig, 'nodeName'>];
  if (spec.key === 'listen') return `${(value as ListenAddress).host}:${(value as ListenAddress).port}`;
  if (spec.key === 'authzResource') return describeAuthzResource(value as AuthzResource);
  if (spec.key === 'namespaceMaxStoreBytes') return 'a quarter of --store-max-bytes';
  if (Array.isArray(value)) return value.join(',');
  if (value === undefined) return 'none';
  if (spec.show) return spec.show(value);
  return String(value);
}

export function agentHelpText(hostname: string): string {
  const lines = [
    'Usage: podflame-agent [options]',
    '',
    'The podflame node agent: CPU, allocation, lock and wall-clock flame graphs of containers on this node.',
    '',
  ];
  for (const spec of AGENT_OPTIONS) {
    lines.push(`  --${spec.flag} ${spec.placeholder}`);
    lines.push(`      ${spec.description} (env ${spec.env.join(' or ')}; default ${defaultText(spec, hostname)})`);
  }
  lines.push('  -V, --version', '      print the version and exit', '  -h, --help', '      show this help', '');
  return lines.join('\n');
}

/** Parses flags and environment into a validated configuration; throws CONFIG_INVALID naming the bad option. */
export function parseAgentConfig(sources: ConfigSources): ParsedAgentCommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'V' },
  };
  for (const spec of AGENT_OPTIONS) options[spec.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...sources.argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `${err instanceof Error ? err.message : String(err)}; run podflame-agent --help for the options`,
      { cause: err },
    );
  }
  if (values.help === true) return { kind: 'help', text: agentHelpText(sources.hostname) };
  if (values.version === true) return { kind: 'version' };

  const config: AgentConfig = { ...DEFAULT_AGENT_CONFIG, nodeName: sources.hostname };
  for (const spec of AGENT_OPTIONS) {
    const flagValue = values[spec.flag];
    if (typeof flagValue === 'string') {
      (config as unknown as Record<string, unknown>)[spec.key] = spec.parse(flagValue, `--${spec.flag}`);
      continue;
    }
    const envName = spec.env.find((name) => (sources.env[name] ?? '') !== '');
    if (envName !== undefined) {
      (config as unknown as Record<string, unknown>)[spec.key] = spec.parse(sources.env[envName] as string, envName);
    }
  }
  // The rest of the environment the agent uses, read here like the flags' variables (and nowhere else).
  const serviceHost = sources.env.KUBERNETES_SERVICE_HOST;
  if (serviceHost !== undefined && serviceHost !== '') {
    const serviceAccountDir = sources.env.PODFLAME_SERVICE_ACCOUNT_DIR;
    config.inCluster = {
      host: serviceHost,
      port: sources.env.KUBERNETES_SERVICE_PORT || '443',
      ...(serviceAccountDir ? { serviceAccountDir } : {}),
    };
  }
  if (sources.env.PATH !== undefined) config.capturePath = sources.env.PATH;
  assertAuthModeAllowed(config.auth, config.listen.host, config.listen.port);
  if (config.maxProfileBytes > config.profilesMaxBytes) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `--max-profile-bytes (${config.maxProfileBytes}) must not exceed --profiles-max-bytes (${config.profilesMaxBytes}): ` +
        'the profiles kept must have room for one',
      { details: { option: '--max-profile-bytes' } },
    );
  }
  return { kind: 'config', config };
}
