/**
 * A stand-in Kubernetes API server for the pod watch: a real HTTP server on loopback answering
 * `GET /api/v1/pods?fieldSelector=spec.nodeName=NODE` with a PodList, and the same with `watch=true&resourceVersion=RV`
 * with a stream of watch events (`{"type":"ADDED"|"MODIFIED"|"DELETED","object":{...}}`, one JSON object per line,
 * chunked), as the API server does. Only the `spec.nodeName` field selector is supported — the one the agent sends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { makePod, type FakePodSpec, type Json } from '../helpers/fake-kube-api.js';

interface Watcher {
  node: string | undefined;
  res: http.ServerResponse;
}

function nodeOf(pod: Json): string | undefined {
  return (pod.spec as { nodeName?: string } | undefined)?.nodeName;
}

export class PodWatchApi {
  private readonly pods = new Map<string, Json>();
  private readonly watchers = new Set<Watcher>();
  private resourceVersion = 100;
  private server: http.Server | undefined;
  private listFailures: number[] = [];
  /** Every request's path and query, in order. */
  readonly requests: string[] = [];

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    const { port } = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'agent', token: 'agent-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'agent' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The next lists answer with these statuses (e.g. 500), one each. */
  failLists(...statuses: number[]): void {
    this.listFailures.push(...statuses);
  }

  putPod(spec: FakePodSpec): void {
    const key = `${spec.namespace}/${spec.name}`;
    const type = this.pods.has(key) ? 'MODIFIED' : 'ADDED';
    const pod = makePod(spec);
    (pod.metadata as Json).resourceVersion = String(++this.resourceVersion);
    this.pods.set(key, pod);
    this.emit(type, pod);
  }

  deletePod(namespace: string, name: string): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) return;
    this.pods.delete(`${namespace}/${name}`);
    const gone = structuredClone(pod);
    (gone.metadata as Json).resourceVersion = String(++this.resourceVersion);
    this.emit('DELETED', gone);
  }

  /** Ends every watch connection (the API server does this every few minutes). */
  dropWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  private emit(type: string, pod: Json): void {
    for (const w of this.watchers) {
      if (w.node === undefined || w.node === nodeOf(pod)) w.res.write(`${JSON.stringify({ type, object: pod })}\n`);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://api');
    this.requests.push(`${url.pathname}${url.search}`);
    if (req.headers.authorization !== 'Bearer agent-token') {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
      return;
    }
    if (req.method !== 'GET' || url.pathname !== '/api/v1/pods') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404}');
      return;
    }
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const m = /^spec\.nodeName=(.+)$/.exec(selector);
    if (selector !== '' && !m) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"kind":"Status","code":400}');
      return;
    }
    const node = m?.[1];
    const items = [...this.pods.values()].filter((p) => node === undefined || nodeOf(p) === node);
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      const watcher: Watcher = { node, res };
      this.watchers.add(watcher);
      req.on('close', () => this.watchers.delete(watcher));
      // Changes after the listed version were already sent to nobody: a real server replays them; tests make
      // changes only after the watch is up.
      return;
    }
    const failure = this.listFailures.shift();
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'etcd is down',
          code: failure,
        }),
      );
      return;
    }
    const bare = items.map((p) => {
      const { kind: _k, apiVersion: _a, ...rest } = p;
      return rest;
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.resourceVersion) },
        items: bare,
      }),
    );
  }

  get watching(): number {
    return this.watchers.size;
  }

  async close(): Promise<void> {
    this.dropWatches();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
