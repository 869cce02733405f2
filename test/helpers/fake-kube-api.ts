/**
 * The stand-in Kubernetes API server of every test: a real HTTPS (or HTTP) server on loopback speaking the API
 * server's wire format for the few endpoints podflame uses — pods (get, list with label and field selectors, watch,
 * the pod proxy), nodes, apps/v1 workloads, TokenReview and SubjectAccessReview (tokens and their audiences —
 * TokenRequest, SelfSubjectReview, TokenReview `spec.audiences` — and ConfigMaps: see the section "Service account
 * tokens and ConfigMaps" below). It authenticates bearer tokens, asks a
 * test-supplied policy for authorization, records every request, and proxies
 * `/api/v1/namespaces/NS/pods/NAME:PORT/proxy/...` to the pod's IP the way the real one does: the caller's
 * Authorization header is dropped once it has been checked.
 *
 * The agent's pod watcher (an informer: list, then watch) is served too: every `putPod`/`deletePod` stamps the next
 * resourceVersion (lists carry the latest) and goes to each open watch whose selectors match, as one JSON watch event
 * per line on a chunked response. Changes made while no watch is open are not replayed (a real server replays those
 * after the watch's resourceVersion): tests change pods once `podWatchCount` says the watch is up. `dropPodWatches`
 * ends the open watches, as the API server does every few minutes, and `failPodLists` makes the next lists fail, as
 * an API server whose storage is down.
 *
 * `podflame install` and `uninstall` are served too (section "Install" below): server-side apply PATCHes of the kinds
 * an install holds (each recorded with its content type and field manager, the object stored), lists of them by label
 * selector, gets, deletes (a namespace takes what is in it, and may stay Terminating for a few lists or gets), and a
 * DaemonSet's status set by the test as the DaemonSet controller would. `neverAnswer` picks requests it reads and
 * never answers, as a stuck API server would; `answerDelayMs` holds answers, as a slow one would.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiClient } from '../../agent/kube/kube-api-client.js';
import { kubeConfigEndpoint, loadKubeconfigEndpoint } from '../../agent/kube/kubeconfig-endpoint.js';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { makeSelfSignedCert } from './self-signed-cert.js';

// ---------------------------------------------------------------------------------------------------------------
// Objects (plain JSON, as the API server sends them)

export type Json = Record<string, unknown>;

export interface FakeContainer {
  name: string;
  image?: string;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  /** containerStatuses[].ready; default true when the pod is Running. */
  ready?: boolean;
  /** containerStatuses[].containerID, e.g. docker://0123abcd... */
  containerID?: string;
}

export interface FakePodSpec {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
  podIP?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers: FakeContainer[];
  /** Pod condition Ready; default: all containers ready and Running. */
  ready?: boolean;
}

/** A v1.Pod as `GET /api/v1/namespaces/NS/pods/NAME` returns it. */
export function makePod(spec: FakePodSpec): Json {
  const phase = spec.phase ?? 'Running';
  const running = phase === 'Running';
  const statuses = spec.containers.map((c) => ({
    name: c.name,
    image: c.image ?? 'eclipse-temurin:17',
    imageID: '',
    ready: c.ready ?? running,
    restartCount: 0,
    started: running,
    ...(c.containerID ? { containerID: c.containerID } : {}),
    state: running ? { running: { startedAt: '2026-01-01T00:00:00Z' } } : { waiting: { reason: 'ContainerCreating' } },
  }));
  const ready = spec.ready ?? (running && statuses.every((s) => s.ready));
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      uid: spec.uid,
      resourceVersion: '1',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: spec.labels ?? {},
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    },
    spec: {
      ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
      containers: spec.containers.map((c) => ({
        name: c.name,
        image: c.image ?? 'eclipse-temurin:17',
        ...(c.ports ? { ports: c.ports.map((p) => ({ protocol: 'TCP', ...p })) } : {}),
      })),
    },
    status: {
      phase,
      ...(spec.podIP ? { podIP: spec.podIP, podIPs: [{ ip: spec.podIP }] } : {}),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: statuses,
    },
  };
}

export interface FakeAgentPodSpec {
  nodeName: string;
  podIP: string;
  port: number;
  name?: string;
  namespace?: string;
  ready?: boolean;
  version?: string;
  /** Name of the container port; default `http`. */
  portName?: string | null;
}

/** An agent pod as the DaemonSet in manifests/ creates it. */
export function makeAgentPod(spec: FakeAgentPodSpec): Json {
  const version = spec.version ?? '0.1.0';
  const portName = spec.portName === undefined ? 'http' : spec.portName;
  return makePod({
    namespace: spec.namespace ?? 'podflame',
    name: spec.name ?? `podflame-agent-${spec.nodeName}`,
    uid: `00000000-0000-4000-8000-${Buffer.from(spec.nodeName).toString('hex').padEnd(12, '0').slice(0, 12)}`,
    nodeName: spec.nodeName,
    podIP: spec.podIP,
    labels: { 'app.kubernetes.io/name': 'podflame-agent', 'app.kubernetes.io/version': version },
    containers: [
      {
        name: 'agent',
        image: `podflame-agent:${version}`,
        ports: [{ ...(portName === null ? {} : { name: portName }), containerPort: spec.port }],
        ready: spec.ready ?? true,
      },
    ],
  });
}

export type WorkloadKind = 'deployments' | 'statefulsets' | 'daemonsets';

const WORKLOAD_KINDS: Record<WorkloadKind, string> = {
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
};

/** An apps/v1 workload whose spec.selector.matchLabels selects its pods. */
export function makeWorkload(
  resource: WorkloadKind,
  namespace: string,
  name: string,
  matchLabels: Record<string, string>,
): Json {
  return {
    kind: WORKLOAD_KINDS[resource],
    apiVersion: 'apps/v1',
    metadata: { name, namespace, uid: `11111111-0000-4000-8000-${name.length.toString(16).padStart(12, '0')}` },
    spec: { selector: { matchLabels }, template: { metadata: { labels: matchLabels }, spec: { containers: [] } } },
    status: {},
  };
}

/** The v1.Status body the API server sends with every error. */
export function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors, as the API server parses them

// e.g. `app=shop,tier in (web, api),!canary,env!=dev`
type LabelRequirement = (labels: Record<string, string>) => boolean;

/** Splits on commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const LABEL_KEY = /^([a-z0-9A-Z.-]+\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const LABEL_VALUE = /^(([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?)$/;

export function parseLabelSelector(selector: string): LabelRequirement[] {
  return splitTopLevel(selector).map((part) => {
    let m = /^(\S+?)\s+(in|notin)\s+\((.*)\)$/.exec(part);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      if (!LABEL_KEY.test(key) || values.some((v) => !LABEL_VALUE.test(v)))
        throw new Error(`unable to parse requirement: ${part}`);
      return op === 'in'
        ? (l) => Object.hasOwn(l, key) && values.includes(l[key] as string)
        : (l) => !Object.hasOwn(l, key) || !values.includes(l[key] as string);
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) throw new Error(`unable to parse requirement: ${part}`);
      return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
    }
    m = /^(!?)([^=!\s()]+)$/.exec(part);
    if (m && LABEL_KEY.test(m[2] as string)) {
      const key = m[2] as string;
      return m[1] === '!' ? (l) => !Object.hasOwn(l, key) : (l) => Object.hasOwn(l, key);
    }
    throw new Error(`unable to parse requirement: ${part}`);
  });
}

// The pod fields the API server accepts in a fieldSelector (pkg/registry/core/pod: PodToSelectableFields).
const POD_FIELDS: Record<string, (pod: Json) => string> = {
  'metadata.name': (p) => String(dig(p, 'metadata', 'name') ?? ''),
  'metadata.namespace': (p) => String(dig(p, 'metadata', 'namespace') ?? ''),
  'spec.nodeName': (p) => String(dig(p, 'spec', 'nodeName') ?? ''),
  'spec.restartPolicy': (p) => String(dig(p, 'spec', 'restartPolicy') ?? ''),
  'spec.schedulerName': (p) => String(dig(p, 'spec', 'schedulerName') ?? ''),
  'spec.serviceAccountName': (p) => String(dig(p, 'spec', 'serviceAccountName') ?? ''),
  'status.phase': (p) => String(dig(p, 'status', 'phase') ?? ''),
  'status.podIP': (p) => String(dig(p, 'status', 'podIP') ?? ''),
};

// e.g. `spec.nodeName=node-a,status.phase!=Succeeded`
export function parseFieldSelector(selector: string): (pod: Json) => boolean {
  const tests = splitTopLevel(selector).map((part) => {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part);
    if (!m) throw new Error(`invalid field selector: ${part}`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    const get = POD_FIELDS[field];
    if (!get) throw new Error(`field label not supported: ${field}`);
    return op === '!=' ? (p: Json) => get(p) !== value : (p: Json) => get(p) === value;
  });
  return (pod) => tests.every((t) => t(pod));
}

function dig(obj: unknown, ...path: string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[k];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------------------------
// Server

export interface FakeUser {
  username: string;
  uid?: string;
  groups?: string[];
  /** `user.extra` as a TokenReview reports it (e.g. a service account token's credential ID). Default none. */
  extra?: Record<string, string[]>;
}

/** What the API server's authorizer is asked: the same attributes a SubjectAccessReview carries. */
export interface AuthorizationAttributes {
  user: FakeUser;
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export type Authorizer = (attrs: AuthorizationAttributes) => { allowed: boolean; reason?: string };

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The authenticated user, or undefined when the request was refused with 401. */
  user: string | undefined;
}

export interface ProxiedRequest {
  /** The pod the request was proxied to, `namespace/name`. */
  pod: string;
  target: string;
  method: string;
  path: string;
  /** Headers as the pod received them (no Authorization). */
  headers: http.IncomingHttpHeaders;
}

/** A server-side apply the stand-in received. */
export interface AppliedRequest {
  /** `plural/namespace/name`, e.g. `daemonsets/podflame/podflame-agent` (`clusterroles//podflame-agent`). */
  path: string;
  kind: string;
  contentType: string;
  fieldManager: string;
  force: boolean;
  object: Json;
}

interface InstallKind {
  kind: string;
  group: string;
  namespaced: boolean;
}

/** The kinds of a podflame install, by plural (their version is v1 in every group). */
const INSTALL_KINDS: Record<string, InstallKind> = {
  namespaces: { kind: 'Namespace', group: '', namespaced: false },
  serviceaccounts: { kind: 'ServiceAccount', group: '', namespaced: true },
  configmaps: { kind: 'ConfigMap', group: '', namespaced: true },
  clusterroles: { kind: 'ClusterRole', group: 'rbac.authorization.k8s.io', namespaced: false },
  clusterrolebindings: { kind: 'ClusterRoleBinding', group: 'rbac.authorization.k8s.io', namespaced: false },
  roles: { kind: 'Role', group: 'rbac.authorization.k8s.io', namespaced: true },
  rolebindings: { kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', namespaced: true },
  networkpolicies: { kind: 'NetworkPolicy', group: 'networking.k8s.io', namespaced: true },
  daemonsets: { kind: 'DaemonSet', group: 'apps', namespaced: true },
};

export interface FakeKubeApiOptions {
  /** Serve HTTPS with a freshly made self-signed certificate for 127.0.0.1 (default true). */
  tls?: boolean;
  /** Bearer token → user. Default: `{'test-token': {username: 'tester'}}`. */
  tokens?: Record<string, FakeUser>;
  /** Decides every authorized request and SubjectAccessReview. Default: everything allowed. */
  authorize?: Authorizer;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
}

export const DEFAULT_TOKEN = 'test-token';

/** The API server's own token audience (kube-apiserver `--api-audiences`, its default issuer). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

interface MintedToken {
  user: FakeUser;
  audiences: string[];
  /** Expiry, ms since the epoch. */
  expires: number;
}

interface TlsMaterial {
  key: string;
  cert: string;
}

/** A self-signed certificate for 127.0.0.1/localhost (it is its own CA). */
function makeServerCert(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kube-tls-'));
  try {
    const { certFile, keyFile } = makeSelfSignedCert(dir, {
      name: 'fake-kube-apiserver',
      altNames: ['IP:127.0.0.1', 'DNS:localhost'],
    });
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface KubeconfigSpec {
  /** Bearer token of the user (default DEFAULT_TOKEN); null for none. */
  token?: string | null;
  /** Namespace of the current context. */
  namespace?: string;
  /** Name of the current context (default `fake`). */
  context?: string;
  /** Further contexts on the same cluster: name → namespace and token (default DEFAULT_TOKEN; null for none). */
  extraContexts?: Record<string, { namespace?: string; token?: string | null }>;
  /** Leave the CA out and set insecure-skip-tls-verify (default false). */
  insecure?: boolean;
}

/** An open `GET …/pods?watch=true` (the agent's pod watcher): the pods it selects and where their events go. */
interface PodWatchStream {
  selects: (pod: Json) => boolean;
  res: http.ServerResponse;
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly podWatches = new Set<PodWatchStream>();
  private readonly podListFailures: number[] = [];
  readonly proxied: ProxiedRequest[] = [];
  /** The `spec` of every SubjectAccessReview received, in order. */
  readonly accessReviews: Json[] = [];
  /** Tokens minted by TokenRequest: token → its service account user, audiences and expiry. */
  private readonly minted = new Map<string, MintedToken>();
  private readonly objects = new Map<string, Json>();
  private readonly tokens: Record<string, FakeUser>;
  private readonly tls: TlsMaterial | undefined;
  private server: http.Server | undefined;
  /** Every open connection, including those still in their TLS handshake (see close). */
  private readonly sockets = new Set<Socket>();
  private resourceVersion = 100;
  authorize: Authorizer;
  /** Awaited before each TokenReview is answered (already recorded in `requests`): lets a test hold reviews open. */
  tokenReviewGate: (() => Promise<void>) | undefined;
  /**
   * While set, every TokenReview (already recorded in `requests`) answers with this HTTP status and a v1.Status body
   * instead of a verdict, as an API server behind a failing proxy (502) or a failing authentication webhook does.
   */
  tokenReviewFailure: number | undefined;

  constructor(private readonly options: FakeKubeApiOptions = {}) {
    this.tokens = options.tokens ?? {
      [DEFAULT_TOKEN]: { username: 'tester', uid: 'u-1', groups: ['system:authenticated'] },
    };
    this.authorize = options.authorize ?? (() => ({ allowed: true }));
    this.tls = (options.tls ?? true) ? makeServerCert() : undefined;
  }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendJson(res, 500, statusBody(500, 'InternalError', String(err)));
        else res.destroy();
      });
    };
    this.server = this.tls
      ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler)
      : http.createServer(handler);
    // 'connection' is the TCP connection, before any TLS handshake.
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(0, this.options.host ?? '127.0.0.1', () => resolve());
    });
  }

  get url(): string {
    if (!this.server) throw new Error('FakeKubeApi not started');
    const { port, address } = this.server.address() as AddressInfo;
    return `${this.tls ? 'https' : 'http'}://${address}:${port}`;
  }

  /** The server certificate in PEM, which is also its CA. */
  get caPem(): string | undefined {
    return this.tls?.cert;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.dropPodWatches();
    server.closeAllConnections();
    // closeAllConnections leaves a connection still in its TLS handshake open, and server.close would wait for it:
    // an informer stopped while its watch request is on the way (client-node cannot abort a watch before the answer's
    // headers) completes the handshake later and holds a watch open. Every connection ends here.
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // --- objects -------------------------------------------------------------------------------------------------

  /** Adds or replaces a pod (a v1.Pod JSON object, see makePod). */
  putPod(pod: Json): void {
    const ns = String(dig(pod, 'metadata', 'namespace'));
    const name = String(dig(pod, 'metadata', 'name'));
    const key = `pods/${ns}/${name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stamped = this.stamp(pod);
    this.objects.set(key, stamped);
    this.emitPodEvent(type, stamped);
  }

  deletePod(namespace: string, name: string): void {
    const pod = this.objects.get(`pods/${namespace}/${name}`);
    this.objects.delete(`pods/${namespace}/${name}`);
    if (pod) this.emitPodEvent('DELETED', this.stamp(pod));
  }

  /** Ends every open pod watch (the API server does this every few minutes); its watcher has to watch again. */
  dropPodWatches(): void {
    for (const w of this.podWatches) w.res.end();
    this.podWatches.clear();
  }

  /** How many pod watches are open. */
  get podWatchCount(): number {
    return this.podWatches.size;
  }

  /**
   * The next pod lists (not watches) answer with these statuses, one each, e.g. `failPodLists(500, 503)`, with the
   * v1.Status an API server whose storage is down sends.
   */
  failPodLists(...statuses: number[]): void {
    this.podListFailures.push(...statuses);
  }

  // One watch event per line, e.g. {"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{…},…}}
  private emitPodEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Json): void {
    for (const w of this.podWatches) {
      if (w.selects(pod)) w.res.write(`${JSON.stringify({ type, object: pod })}\n`);
    }
  }

  /** Adds a node (only its name and Ready condition matter here). */
  putNode(name: string): void {
    this.objects.set(
      `nodes//${name}`,
      this.stamp({
        kind: 'Node',
        apiVersion: 'v1',
        metadata: {
          name,
          uid: `22222222-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}`,
        },
        spec: {},
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      }),
    );
  }

  putWorkload(resource: WorkloadKind, workload: Json): void {
    const ns = String(dig(workload, 'metadata', 'namespace'));
    const name = String(dig(workload, 'metadata', 'name'));
    this.objects.set(`${resource}/${ns}/${name}`, this.stamp(workload));
  }

  private stamp(obj: Json): Json {
    const copy = structuredClone(obj);
    (copy.metadata as Json).resourceVersion = String(++this.resourceVersion);
    return copy;
  }

  private podsIn(namespace: string | undefined): Json[] {
    const prefix = namespace === undefined ? 'pods/' : `pods/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
  }

  // --- kubeconfig ----------------------------------------------------------------------------------------------

  /** A kubeconfig (YAML) pointing at this server, as kubectl would read it. */
  kubeconfigYaml(spec: KubeconfigSpec = {}): string {
    const contexts: Record<string, { namespace?: string; token?: string | null }> = {
      [spec.context ?? 'fake']: {
        ...(spec.namespace ? { namespace: spec.namespace } : {}),
        token: spec.token === undefined ? DEFAULT_TOKEN : spec.token,
      },
      ...spec.extraContexts,
    };
    const cluster: Json = { server: this.url };
    if (spec.insecure || !this.caPem) cluster['insecure-skip-tls-verify'] = true;
    else cluster['certificate-authority-data'] = Buffer.from(this.caPem).toString('base64');
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake-cluster', cluster }],
      users: Object.entries(contexts).map(([name, c]) => {
        const token = c.token === undefined ? DEFAULT_TOKEN : c.token;
        return { name: `${name}-user`, user: token === null ? {} : { token } };
      }),
      contexts: Object.entries(contexts).map(([name, c]) => ({
        name,
        context: { cluster: 'fake-cluster', user: `${name}-user`, ...(c.namespace ? { namespace: c.namespace } : {}) },
      })),
      'current-context': spec.context ?? 'fake',
      preferences: {},
    });
  }

  /** The agent's client of this API server (agent/kube/), through a kubeconfig as `--kubeconfig` gives it. */
  agentApi(spec: KubeconfigSpec = {}): KubeApiClient {
    return new KubeApiClient(kubeConfigEndpoint(this.kubeConfig(spec)));
  }

  /** The same kubeconfig, loaded by @kubernetes/client-node, for code under test that takes a KubeConfig. */
  kubeConfig(spec: KubeconfigSpec = {}): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.kubeconfigYaml(spec));
    return kc;
  }

  writeKubeconfig(path: string, spec: KubeconfigSpec = {}): string {
    writeFileSync(path, this.kubeconfigYaml(spec), { mode: 0o600 });
    return path;
  }

  // --- request handling ----------------------------------------------------------------------------------------

  private sendJson(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private authenticate(req: http.IncomingMessage): FakeUser | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    // The API server accepts a token only for its own audiences: one minted for an agent is no good here.
    const verdict = m ? this.reviewToken(m[1] as string, undefined) : undefined;
    return verdict && 'user' in verdict ? verdict.user : undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const user = this.authenticate(req);
    this.requests.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: { ...req.headers },
      user: user?.username,
    });
    if (!user) {
      req.resume();
      this.sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }
    if (this.neverAnswer?.(req.method ?? 'GET', url.pathname)) {
      // An API server that took the request and went quiet (overloaded, a stuck webhook): read, never answered.
      req.resume();
      return;
    }
    const delayMs = this.answerDelayMs?.(req.method ?? 'GET', url.pathname) ?? 0;
    // A slow API server: the request is handled, its answer sent that much later.
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    // The real API server removes the credentials once they have been checked, so nothing behind it sees them.
    delete req.headers.authorization;
    const path = url.pathname;
    let m: RegExpExecArray | null;

    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/proxy(\/.*)?$/.exec(path))) {
      await this.proxyToPod(
        req,
        res,
        user,
        m[1] as string,
        decodeURIComponent(m[2] as string),
        m[3] ?? '/',
        url.search,
      );
      return;
    }
    if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      await this.tokenReview(req, res, user);
      return;
    }
    if (req.method === 'POST' && path === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
      await this.subjectAccessReview(req, res, user);
      return;
    }
    if (await this.handleTokenAndConfigMapRoutes(req, res, user, path)) return;
    if (await this.handleInstallRoutes(req, res, user, path, url.searchParams)) return;
    req.resume();
    if (req.method !== 'GET') {
      this.sendJson(
        res,
        405,
        statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
      );
      return;
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path))) {
      const [ns, name] = [m[1] as string, m[2] as string];
      if (!this.allowed(res, { user, verb: 'get', group: '', resource: 'pods', subresource: '', namespace: ns, name }))
        return;
      const pod = this.objects.get(`pods/${ns}/${name}`);
      if (!pod)
        this.sendJson(res, 404, statusBody(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
      else this.sendJson(res, 200, pod);
      return;
    }
    if ((m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/.exec(path))) {
      const ns = m[1];
      if (
        !this.allowed(res, {
          user,
          verb: 'list',
          group: '',
          resource: 'pods',
          subresource: '',
          namespace: ns ?? '',
          name: '',
        })
      )
        return;
      this.listPods(res, ns, url.searchParams);
      return;
    }
    if (path === '/api/v1/nodes') {
      if (
        !this.allowed(res, {
          user,
          verb: 'list',
          group: '',
          resource: 'nodes',
          subresource: '',
          namespace: '',
          name: '',
        })
      )
        return;
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith('nodes//'))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, v]) => {
          const { kind: _k, apiVersion: _a, ...rest } = v;
          return rest;
        });
      this.sendJson(res, 200, {
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.resourceVersion) },
        items,
      });
      return;
    }
    if ((m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets|daemonsets)\/([^/]+)$/.exec(path))) {
      const [ns, resource, name] = [m[1] as string, m[2] as WorkloadKind, m[3] as string];
      if (!this.allowed(res, { user, verb: 'get', group: 'apps', resource, subresource: '', namespace: ns, name }))
        return;
      const obj = this.objects.get(`${resource}/${ns}/${name}`);
      if (!obj) {
        this.sendJson(
          res,
          404,
          statusBody(404, 'NotFound', `${resource}.apps "${name}" not found`, { name, group: 'apps', kind: resource }),
        );
      } else this.sendJson(res, 200, obj);
      return;
    }
    this.sendJson(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource', {}));
  }

  private allowed(res: http.ServerResponse, attrs: AuthorizationAttributes): boolean {
    const decision = this.authorize(attrs);
    if (decision.allowed) return true;
    const what = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const scope = attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ' at the cluster scope';
    const target = attrs.name ? `${attrs.resource} "${attrs.name}"` : attrs.resource;
    const message =
      `${target} is forbidden: User "${attrs.user.username}" cannot ${attrs.verb} resource "${what}" ` +
      `in API group "${attrs.group}"${scope}${decision.reason ? `: ${decision.reason}` : ''}`;
    this.sendJson(
      res,
      403,
      statusBody(403, 'Forbidden', message, { ...(attrs.name ? { name: attrs.name } : {}), kind: attrs.resource }),
    );
    return false;
  }

  private listPods(res: http.ServerResponse, namespace: string | undefined, query: URLSearchParams): void {
    let selects: (pod: Json) => boolean;
    try {
      const labelReqs = parseLabelSelector(query.get('labelSelector') ?? '');
      const fieldSelector = query.get('fieldSelector');
      const fields = fieldSelector ? parseFieldSelector(fieldSelector) : () => true;
      selects = (p) =>
        (namespace === undefined || dig(p, 'metadata', 'namespace') === namespace) &&
        labelReqs.every((r) => r((dig(p, 'metadata', 'labels') ?? {}) as Record<string, string>)) &&
        fields(p);
    } catch (err) {
      this.sendJson(res, 400, statusBody(400, 'BadRequest', (err as Error).message));
      return;
    }
    if (query.get('watch') === 'true' || query.get('watch') === '1') {
      // Events from now on (a real server replays those after resourceVersion; tests change pods after watching).
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      const watch: PodWatchStream = { selects, res };
      this.podWatches.add(watch);
      res.on('close', () => this.podWatches.delete(watch));
      return;
    }
    const failure = this.podListFailures.shift();
    if (failure !== undefined) {
      const reason = failure === 503 ? 'ServiceUnavailable' : failure === 500 ? 'InternalError' : 'Failure';
      this.sendJson(res, failure, statusBody(failure, reason, 'etcd is down'));
      return;
    }
    const items = this.podsIn(namespace).filter(selects);
    // List items carry no kind/apiVersion of their own; the list does.
    const bare = items.map((p) => {
      const { kind: _k, apiVersion: _a, ...rest } = p;
      return rest;
    });
    this.sendJson(res, 200, {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(this.resourceVersion) },
      items: bare,
    });
  }

  private async proxyToPod(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    user: FakeUser,
    namespace: string,
    nameSpec: string,
    rest: string,
    search: string,
  ): Promise<void> {
    // `NAME`, `NAME:PORT` or `SCHEME:NAME:PORT` (registry/core/pod/strategy.go ResourceLocation).
    const parts = nameSpec.split(':');
    const [scheme, name, portSpec] =
      parts.length === 3 ? (parts as [string, string, string]) : ['', parts[0] as string, parts[1] ?? ''];
    const verb =
      (
        { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<
          string,
          string
        >
      )[req.method ?? 'GET'] ?? 'get';
    if (!this.allowed(res, { user, verb, group: '', resource: 'pods', subresource: 'proxy', namespace, name })) {
      req.resume();
      return;
    }
    const pod = this.objects.get(`pods/${namespace}/${name}`);
    if (!pod) {
      req.resume();
      this.sendJson(res, 404, statusBody(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' }));
      return;
    }
    let port = Number(portSpec);
    if (portSpec === '') {
      const containers = (dig(pod, 'spec', 'containers') ?? []) as { ports?: { containerPort: number }[] }[];
      port = containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort ?? 80;
    } else if (!Number.isInteger(port)) {
      // A named port is looked up among the container ports.
      const containers = (dig(pod, 'spec', 'containers') ?? []) as {
        ports?: { name?: string; containerPort: number }[];
      }[];
      port = containers.flatMap((c) => c.ports ?? []).find((p) => p.name === portSpec)?.containerPort ?? NaN;
    }
    const podIP = dig(pod, 'status', 'podIP') as string | undefined;
    if (!podIP || !Number.isInteger(port)) {
      req.resume();
      this.sendJson(res, 503, statusBody(503, 'ServiceUnavailable', `address not allowed`));
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    delete headers.host;
    for (const h of Object.keys(headers)) if (h.startsWith('impersonate-')) delete headers[h];
    headers['x-forwarded-for'] = req.socket.remoteAddress ?? '';
    const target = `${scheme === 'https' ? 'https' : 'http'}://${podIP}:${port}`;
    this.proxied.push({
      pod: `${namespace}/${name}`,
      target,
      method: req.method ?? 'GET',
      path: rest + search,
      headers,
    });
    const upstream = (scheme === 'https' ? https : http).request(`${target}${rest}${search}`, {
      method: req.method,
      headers,
      rejectUnauthorized: false,
    });
    upstream.on('response', (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.sendJson(
        res,
        503,
        statusBody(
          503,
          'ServiceUnavailable',
          `error trying to reach service: dial tcp ${podIP}:${port}: ${err.message}`,
        ),
      );
    });
    // A caller that goes away takes the upstream request with it, as the real proxy does.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private async readJson(req: http.IncomingMessage): Promise<Json | undefined> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
    } catch {
      return undefined;
    }
  }

  // POST /apis/authentication.k8s.io/v1/tokenreviews
  // {"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"..."}}
  private async tokenReview(req: http.IncomingMessage, res: http.ServerResponse, caller: FakeUser): Promise<void> {
    const body = await this.readJson(req);
    await this.tokenReviewGate?.();
    const failure = this.tokenReviewFailure;
    if (failure !== undefined) {
      this.sendJson(res, failure, statusBody(failure, 'InternalError', 'the TokenReview could not be answered'));
      return;
    }
    if (
      !this.allowed(res, {
        user: caller,
        verb: 'create',
        group: 'authentication.k8s.io',
        resource: 'tokenreviews',
        subresource: '',
        namespace: '',
        name: '',
      })
    )
      return;
    const token = dig(body, 'spec', 'token');
    if (typeof token !== 'string' || token === '') {
      this.sendJson(
        res,
        422,
        statusBody(422, 'Invalid', 'TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value'),
      );
      return;
    }
    const audiences = dig(body, 'spec', 'audiences');
    const verdict = this.reviewToken(token, Array.isArray(audiences) ? (audiences as string[]) : undefined);
    this.sendJson(res, 201, {
      kind: 'TokenReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: body?.spec ?? {},
      status:
        'user' in verdict
          ? {
              authenticated: true,
              user: {
                username: verdict.user.username,
                uid: verdict.user.uid ?? '',
                groups: verdict.user.groups ?? ['system:authenticated'],
                ...(verdict.user.extra ? { extra: verdict.user.extra } : {}),
              },
              audiences: verdict.audiences,
            }
          : { user: {}, error: verdict.error },
    });
  }

  // POST /apis/authorization.k8s.io/v1/subjectaccessreviews
  // {"spec":{"resourceAttributes":{"namespace":"shop","verb":"create","resource":"pods","subresource":"exec","name":"x"},"user":"alice","groups":[...]}}
  private async subjectAccessReview(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    caller: FakeUser,
  ): Promise<void> {
    const body = await this.readJson(req);
    if (
      !this.allowed(res, {
        user: caller,
        verb: 'create',
        group: 'authorization.k8s.io',
        resource: 'subjectaccessreviews',
        subresource: '',
        namespace: '',
        name: '',
      })
    )
      return;
    const spec = (body?.spec ?? {}) as Json;
    this.accessReviews.push(structuredClone(spec));
    const ra = (spec.resourceAttributes ?? {}) as Record<string, string | undefined>;
    if (typeof spec.user !== 'string' && !Array.isArray(spec.groups)) {
      this.sendJson(
        res,
        422,
        statusBody(
          422,
          'Invalid',
          'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
        ),
      );
      return;
    }
    const decision = this.authorize({
      user: {
        username: String(spec.user ?? ''),
        uid: String(spec.uid ?? ''),
        groups: (spec.groups as string[]) ?? [],
        ...(spec.extra ? { extra: spec.extra as Record<string, string[]> } : {}),
      },
      verb: ra.verb ?? '',
      group: ra.group ?? '',
      resource: ra.resource ?? '',
      subresource: ra.subresource ?? '',
      namespace: ra.namespace ?? '',
      name: ra.name ?? '',
    });
    this.sendJson(res, 201, {
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) },
    });
  }

  // --- Service account tokens and ConfigMaps ---------------------------------------------------------------------
  // TokenRequest (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`) mints tokens bound to audiences; the
  // API server itself (and a TokenReview without `spec.audiences`) accepts a token only for API_AUDIENCE, as
  // kube-apiserver's `--api-audiences`; SelfSubjectReview tells a caller who it is; ConfigMaps can be read.

  /** Adds a service account that TokenRequest can mint tokens for. */
  putServiceAccount(namespace: string, name: string): void {
    this.objects.set(
      `serviceaccounts/${namespace}/${name}`,
      this.stamp({
        kind: 'ServiceAccount',
        apiVersion: 'v1',
        metadata: {
          name,
          namespace,
          uid: `33333333-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}`,
        },
      }),
    );
  }

  /** Adds or replaces a ConfigMap (`data` as given). */
  putConfigMap(namespace: string, name: string, data: Record<string, string>): void {
    this.objects.set(
      `configmaps/${namespace}/${name}`,
      this.stamp({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace }, data }),
    );
  }

  /** The TokenRequests received: the service account and the spec asked for. */
  readonly tokenRequests: { serviceAccount: string; spec: Json }[] = [];

  /**
   * Who a token is for the given audiences (none: API_AUDIENCE), as the API server's authenticators decide: static
   * tokens are good for the API server's own audience, minted ones for theirs until they expire.
   */
  reviewToken(
    token: string,
    audiences: readonly string[] | undefined,
  ): { user: FakeUser; audiences: string[] } | { error: string } {
    const wanted = audiences && audiences.length > 0 ? [...audiences] : [API_AUDIENCE];
    const minted = this.minted.get(token);
    const user = minted?.user ?? this.tokens[token];
    if (!user) return { error: '[invalid bearer token, token lookup failed]' };
    if (minted && minted.expires <= Date.now())
      return { error: '[invalid bearer token, service account token has expired]' };
    const bound = minted?.audiences ?? [API_AUDIENCE];
    const common = wanted.filter((a) => bound.includes(a));
    if (common.length === 0) {
      // kube-apiserver's words (pkg/serviceaccount/claims.go via authenticator/audagnostic)
      return {
        error: `[invalid bearer token, token audiences ${JSON.stringify(bound)} is invalid for the target audiences ${JSON.stringify(wanted)}]`,
      };
    }
    return { user, audiences: common };
  }

  /** Routes of this section; false when the request is for another. */
  private async handleTokenAndConfigMapRoutes(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    user: FakeUser,
    path: string,
  ): Promise<boolean> {
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)\/token$/.exec(path))) {
      await this.tokenRequest(req, res, user, m[1] as string, m[2] as string);
      return true;
    }
    if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      req.resume();
      // {"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","status":{"userInfo":{"username":…}}}
      this.sendJson(res, 201, {
        kind: 'SelfSubjectReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        status: {
          userInfo: {
            username: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            groups: user.groups ?? ['system:authenticated'],
            ...(user.extra ? { extra: user.extra } : {}),
          },
        },
      });
      return true;
    }
    if (req.method === 'GET' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(path))) {
      req.resume();
      const [ns, name] = [m[1] as string, m[2] as string];
      const attrs = { user, verb: 'get', group: '', resource: 'configmaps', subresource: '', namespace: ns, name };
      if (!this.allowed(res, attrs)) return true;
      const cm = this.objects.get(`configmaps/${ns}/${name}`);
      if (!cm)
        this.sendJson(
          res,
          404,
          statusBody(404, 'NotFound', `configmaps "${name}" not found`, { name, kind: 'configmaps' }),
        );
      else this.sendJson(res, 200, cm);
      return true;
    }
    return false;
  }

  // POST /api/v1/namespaces/NS/serviceaccounts/NAME/token
  // {"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["podflame-agent"],"expirationSeconds":3600}}
  private async tokenRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    caller: FakeUser,
    namespace: string,
    name: string,
  ): Promise<void> {
    const body = await this.readJson(req);
    const attrs = {
      user: caller,
      verb: 'create',
      group: '',
      resource: 'serviceaccounts',
      subresource: 'token',
      namespace,
      name,
    };
    if (!this.allowed(res, attrs)) return;
    const sa = this.objects.get(`serviceaccounts/${namespace}/${name}`);
    if (!sa) {
      this.sendJson(
        res,
        404,
        statusBody(404, 'NotFound', `serviceaccounts "${name}" not found`, { name, kind: 'serviceaccounts' }),
      );
      return;
    }
    const spec = (body?.spec ?? {}) as Json;
    this.tokenRequests.push({ serviceAccount: `${namespace}/${name}`, spec: structuredClone(spec) });
    const expirationSeconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
    if (expirationSeconds < 600) {
      this.sendJson(
        res,
        422,
        statusBody(
          422,
          'Invalid',
          `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`,
        ),
      );
      return;
    }
    const audiences =
      Array.isArray(spec.audiences) && spec.audiences.length > 0 ? (spec.audiences as string[]) : [API_AUDIENCE];
    const token = `minted-${randomBytes(12).toString('hex')}`;
    const expires = Date.now() + expirationSeconds * 1000;
    const uid = String(dig(sa, 'metadata', 'uid'));
    this.minted.set(token, {
      audiences,
      expires,
      user: {
        username: `system:serviceaccount:${namespace}:${name}`,
        uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
        // kube-apiserver 1.30+ names the token it accepted (its JTI) in user.extra.
        extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${token.slice(-12)}`] },
      },
    });
    this.sendJson(res, 201, {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences, expirationSeconds, boundObjectRef: null },
      status: {
        token,
        expirationTimestamp: new Date(Math.floor(expires / 1000) * 1000).toISOString().replace('.000', ''),
      },
    });
  }

  // --- Install: server-side apply, lists by label, deletes, DaemonSet status -------------------------------------
  // PATCH /apis/apps/v1/namespaces/podflame/daemonsets/podflame-agent?fieldManager=podflame&force=true
  // Content-Type: application/apply-patch+yaml, the body the whole object (JSON is YAML).

  /** Every server-side apply received, in order. */
  readonly applies: AppliedRequest[] = [];
  /** Every DELETE of an install kind received, as `plural/namespace/name`. */
  readonly deletes: string[] = [];
  /**
   * How many namespace lists or reads still show a deleted namespace (Terminating), as its finalizers would.
   * Default 0.
   */
  namespaceTerminatingLists = 0;
  /** Requests (method, path) the stand-in reads and never answers, e.g. the DaemonSet reads of install's wait. */
  neverAnswer: ((method: string, path: string) => boolean) | undefined = undefined;
  /** How long to hold the answer to a request, in ms (default none). */
  answerDelayMs: ((method: string, path: string) => number) | undefined = undefined;
  private readonly terminating = new Map<string, { obj: Json; lists: number }>();

  /** An object stored by apply (or put), e.g. `storedObject('daemonsets', 'podflame', 'podflame-agent')`. */
  storedObject(plural: string, namespace: string, name: string): Json | undefined {
    return this.objects.get(`${plural}/${namespace}/${name}`);
  }

  /** Sets a DaemonSet's status as its controller would, e.g. `{desiredNumberScheduled: 2, numberReady: 1}`. */
  setDaemonSetStatus(namespace: string, name: string, status: Json): void {
    const key = `daemonsets/${namespace}/${name}`;
    const ds = this.objects.get(key);
    if (!ds) throw new Error(`no DaemonSet ${namespace}/${name}`);
    const generation = dig(ds, 'metadata', 'generation') ?? 1;
    this.objects.set(key, this.stamp({ ...ds, status: { observedGeneration: generation, ...status } }));
  }

  private async handleInstallRoutes(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    user: FakeUser,
    path: string,
    query: URLSearchParams,
  ): Promise<boolean> {
    // /api/v1[/namespaces/NS]/PLURAL[/NAME] or /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(path);
    if (!m) return false;
    const [group, ns, plural, name] = [m[1] ?? '', m[2] ?? '', m[3] as string, m[4]];
    const kind = INSTALL_KINDS[plural];
    if (!kind || kind.group !== group) return false;
    if (req.method === 'GET' && plural === 'configmaps' && name !== undefined) return false; // served above
    if (req.method === 'GET' && plural === 'daemonsets' && name !== undefined) return false; // apps/v1 workloads
    const verbs: Record<string, string> = {
      PATCH: 'patch',
      DELETE: 'delete',
      GET: name === undefined ? 'list' : 'get',
    };
    const verb = verbs[req.method ?? ''];
    if (!verb) return false;
    if (!this.allowed(res, { user, verb, group, resource: plural, subresource: '', namespace: ns, name: name ?? '' })) {
      req.resume();
      return true;
    }
    if (req.method === 'PATCH' && name !== undefined) {
      await this.serverSideApply(req, res, kind, plural, ns, name, query);
      return true;
    }
    req.resume();
    if (req.method === 'DELETE' && name !== undefined) {
      this.deleteInstalled(res, kind, plural, ns, name);
      return true;
    }
    if (req.method === 'GET' && name === undefined) {
      this.listInstalled(res, kind, plural, ns, query);
      return true;
    }
    let obj = this.objects.get(`${plural}/${ns}/${name ?? ''}`);
    const terminating = this.terminating.get(`${plural}/${ns}/${name ?? ''}`);
    if (!obj && terminating && terminating.lists > 0) {
      terminating.lists--;
      obj = terminating.obj;
    }
    if (!obj)
      this.sendJson(res, 404, statusBody(404, 'NotFound', `${plural} "${name}" not found`, { name, kind: plural }));
    else this.sendJson(res, 200, obj);
    return true;
  }

  private async serverSideApply(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    kind: InstallKind,
    plural: string,
    ns: string,
    name: string,
    query: URLSearchParams,
  ): Promise<void> {
    const contentType = req.headers['content-type'] ?? '';
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (contentType !== 'application/apply-patch+yaml') {
      this.sendJson(
        res,
        415,
        statusBody(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/apply-patch+cbor`,
        ),
      );
      return;
    }
    const fieldManager = query.get('fieldManager') ?? undefined;
    if (!fieldManager) {
      this.sendJson(
        res,
        422,
        statusBody(
          422,
          'Invalid',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        ),
      );
      return;
    }
    let obj: Json;
    try {
      obj = parseYaml(Buffer.concat(chunks).toString('utf8')) as Json;
    } catch (err) {
      this.sendJson(res, 400, statusBody(400, 'BadRequest', `error decoding YAML: ${(err as Error).message}`));
      return;
    }
    const bodyName = dig(obj, 'metadata', 'name');
    const bodyNs = dig(obj, 'metadata', 'namespace') ?? '';
    if (obj.kind !== kind.kind || bodyName !== name || (kind.namespaced && bodyNs !== ns)) {
      this.sendJson(
        res,
        400,
        statusBody(
          400,
          'BadRequest',
          `the name or kind of the object (${String(obj.kind)} ${String(bodyName)}) does not match the URL`,
        ),
      );
      return;
    }
    this.applies.push({
      path: `${plural}/${ns}/${name}`,
      kind: kind.kind,
      contentType,
      fieldManager,
      force: query.get('force') === 'true',
      object: structuredClone(obj),
    });
    const key = `${plural}/${ns}/${name}`;
    const previous = this.objects.get(key);
    const sameSpec = previous && JSON.stringify(previous.spec) === JSON.stringify(obj.spec);
    const previousGeneration = Number(dig(previous, 'metadata', 'generation') ?? 0);
    const stored = this.stamp({
      ...obj,
      metadata: {
        ...(obj.metadata as Json),
        uid: dig(previous, 'metadata', 'uid') ?? `44444444-0000-4000-8000-${randomBytes(6).toString('hex')}`,
        generation: sameSpec ? previousGeneration : previousGeneration + 1,
      },
      ...(previous?.status ? { status: previous.status } : {}),
    });
    this.objects.set(key, stored);
    this.sendJson(res, previous ? 200 : 201, stored);
  }

  private listInstalled(
    res: http.ServerResponse,
    kind: InstallKind,
    plural: string,
    ns: string,
    query: URLSearchParams,
  ): void {
    let requirements: LabelRequirement[];
    try {
      requirements = parseLabelSelector(query.get('labelSelector') ?? '');
    } catch (err) {
      this.sendJson(res, 400, statusBody(400, 'BadRequest', (err as Error).message));
      return;
    }
    const prefix = kind.namespaced && ns !== '' ? `${plural}/${ns}/` : `${plural}/`;
    const live = [...this.objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
    if (plural === 'namespaces') {
      for (const [key, t] of this.terminating) {
        if (t.lists <= 0) this.terminating.delete(key);
        else {
          t.lists--;
          live.push(t.obj);
        }
      }
    }
    const items = live
      .filter((o) => requirements.every((r) => r((dig(o, 'metadata', 'labels') ?? {}) as Record<string, string>)))
      .map((o) => {
        const { kind: _k, apiVersion: _a, ...rest } = o;
        return rest;
      });
    this.sendJson(res, 200, {
      kind: `${kind.kind}List`,
      apiVersion: kind.group === '' ? 'v1' : `${kind.group}/v1`,
      metadata: { resourceVersion: String(this.resourceVersion) },
      items,
    });
  }

  private deleteInstalled(res: http.ServerResponse, kind: InstallKind, plural: string, ns: string, name: string): void {
    const key = `${plural}/${ns}/${name}`;
    const obj = this.objects.get(key);
    this.deletes.push(key);
    if (!obj) {
      this.sendJson(res, 404, statusBody(404, 'NotFound', `${plural} "${name}" not found`, { name, kind: plural }));
      return;
    }
    this.objects.delete(key);
    if (kind.kind === 'Namespace') {
      // What the namespace controller does: everything in it goes too.
      for (const k of [...this.objects.keys()]) if (k.split('/')[1] === name) this.objects.delete(k);
      if (this.namespaceTerminatingLists > 0) {
        const terminating = { ...obj, status: { phase: 'Terminating' } };
        this.terminating.set(key, { obj: terminating, lists: this.namespaceTerminatingLists });
      }
    }
    this.sendJson(res, 200, statusBody(200, 'Success', `${kind.kind} ${name} deleted`));
  }
}

/** The agent's client of the API server a kubeconfig file names, as `--kubeconfig FILE` makes it. */
export function agentKubeApi(kubeconfigFile: string): KubeApiClient {
  return new KubeApiClient(loadKubeconfigEndpoint(kubeconfigFile));
}
