/**
 * A two-node "cluster" for the client's tests: the stand-in Kubernetes API server, two real podflame agents (built,
 * from dist/) listening on 127.0.0.2 and 127.0.0.3 on the same port as a DaemonSet's pods would, with agent pods in
 * the stand-in whose pod IPs are those addresses, and a kubeconfig file for the CLI. The agents serve HTTPS as the
 * manifests' do (a certificate for podflame-agent.podflame.svc signed by a CA of the cluster's own), and the CA is
 * published as the manifests say, in ConfigMap podflame/podflame-agent-ca: the client finds it and sends tokens over
 * TLS only. Not a test file.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgentProcess } from '../helpers/agent-process.js';
import { requireBuild } from '../helpers/built.js';
import { FakeKubeApi, makeAgentPod, type FakeKubeApiOptions, type KubeconfigSpec } from '../helpers/fake-kube-api.js';
import { AGENT_SERVER_NAME, makeTestPki, type TestPki } from '../security/tls-material.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The two nodes and the loopback addresses their agent pods have. */
export const NODES = [
  { name: 'node-a', ip: '127.0.0.2' },
  { name: 'node-b', ip: '127.0.0.3' },
] as const;

export interface RunningAgent {
  node: string;
  ip: string;
  port: number;
  url: string;
  child: ChildProcessWithoutNullStreams;
  logs: Record<string, unknown>[];
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `node dist/agent/main.js --listen IP:PORT --node-name NODE --capture-image IMAGE ...extra`. */
export async function startAgent(
  node: string,
  ip: string,
  port: number,
  captureImage: string,
  extraArgs: readonly string[] = [],
): Promise<RunningAgent> {
  // Test files run in parallel and several start agents for node-a and node-b on one engine: each file's agents get
  // their own capture group, so one file's agent start-up never removes another file's running captures as leftovers.
  const args = [
    ...['--listen', `${ip}:${port}`, '--node-name', node, '--capture-image', captureImage],
    ...['--capture-group', `kube-test-${process.pid}`, ...extraArgs],
  ];
  const agent = await startAgentProcess(args);
  return {
    node,
    ip,
    port: Number(new URL(agent.url).port),
    url: agent.url,
    child: agent.child,
    logs: agent.logs,
    stderr: agent.stderr,
    async stop() {
      await agent.stop();
    },
  };
}

export interface KubeTestCluster {
  api: FakeKubeApi;
  agents: RunningAgent[];
  dir: string;
  /** The cluster's agent CA and serving certificate (the one published in ConfigMap podflame-agent-ca). */
  pki: TestPki;
  /** `--tls-cert FILE --tls-key FILE` with that certificate, for further agents a test starts. */
  tlsArgs: readonly string[];
  /** Writes a kubeconfig for the stand-in (into the cluster's temp dir) and returns its path. */
  kubeconfig(name: string, spec?: KubeconfigSpec): string;
  close(): Promise<void>;
}

export interface KubeTestClusterOptions {
  captureImage: string;
  api?: FakeKubeApiOptions;
  /** Extra agent flags. */
  agentArgs?: readonly string[];
}

export async function startKubeTestCluster(options: KubeTestClusterOptions): Promise<KubeTestCluster> {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'podflame-kube-cluster-'));
  const api = new FakeKubeApi(options.api);
  await api.start();
  const agents: RunningAgent[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(agents.map((a) => a.stop()));
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  };
  const pki = makeTestPki(dir, [`DNS:${AGENT_SERVER_NAME}`]);
  const tlsArgs = ['--tls-cert', pki.certFile, '--tls-key', pki.keyFile];
  api.putConfigMap('podflame', 'podflame-agent-ca', {
    'ca.crt': readFileSync(pki.caFile, 'utf8'),
    'server-name': AGENT_SERVER_NAME,
  });
  const agentArgs = [...tlsArgs, ...(options.agentArgs ?? [])];
  try {
    // The first agent picks a free port; the second takes the same one on its own address, as a DaemonSet's pods do.
    const first = NODES[0];
    const a = await startAgent(first.name, first.ip, 0, options.captureImage, agentArgs);
    agents.push(a);
    const second = NODES[1];
    agents.push(await startAgent(second.name, second.ip, a.port, options.captureImage, agentArgs));
    for (const agent of agents) {
      api.putNode(agent.node);
      api.putPod(makeAgentPod({ nodeName: agent.node, podIP: agent.ip, port: agent.port }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    api,
    agents,
    dir,
    pki,
    tlsArgs,
    kubeconfig: (name, spec) => api.writeKubeconfig(join(dir, `${name}.kubeconfig`), spec),
    close,
  };
}
