/**
 * An agent process's parts in one test process: the real Agent (HTTP app, capture service) around the in-memory
 * runtime of the agent tests, with continuous profiling wired as main.ts wires it.
 */
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Agent } from '../../agent/agent.js';
import type { AgentAppOptions } from '../../agent/server/app.js';
import { historyRouter, type GraphRenderer } from '../../agent/server/routes/history.js';
import type { MergeLimits } from '../../agent/store/merge-budget.js';
import type { MergeGate } from '../../agent/server/merge-gate.js';
import type { AnswerSendOptions } from '../../agent/server/answer-sender.js';
import { ContinuousProfiling, type ContinuousProfilingOptions } from '../../agent/schedules/continuous-profiling.js';
import { captureThrough } from '../../agent/schedules/capture-adapter.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

export interface HistoryAgent {
  url: string;
  agent: Agent;
  history: ContinuousProfiling;
  runtime: FakeRuntime;
  registry: Registry;
  /** The agent's log lines so far (JSON, one per request among them). */
  logLines: () => Record<string, unknown>[];
}

export async function startHistoryAgent(
  t: Test,
  options: Partial<ContinuousProfilingOptions> & {
    nodeName?: string;
    dataDir?: string;
    listen?: { host: string; port: number };
    /** Serve HTTPS with this certificate and key (`--tls-cert`, `--tls-key`). Default plain HTTP. */
    tls?: { certFile: string; keyFile: string };
    /** More of the app's extension points (e.g. `apiMiddleware`); the history routes are added to `routers`. */
    app?: AgentAppOptions;
    /** The history routes' merge cap (HistoryRouteDeps.mergeLimits). Default theirs. */
    mergeLimits?: MergeLimits;
    /** Where the history routes draw. Default in process. */
    graphs?: GraphRenderer;
    /** Where the history routes' merges take turns (HistoryRouteDeps.mergeGate). Default theirs. */
    mergeGate?: MergeGate;
    /** How the history routes send merged answers (HistoryRouteDeps.answerSend). Default theirs. */
    answerSend?: AnswerSendOptions;
  } = {},
): Promise<HistoryAgent> {
  const runtime = new FakeRuntime();
  runtime.images.add('podflame-perf:latest');
  const { logger, lines } = memoryLogger();
  const nodeName = options.nodeName ?? 'node-a';
  const registry = new Registry();
  // The scheduler's captures go through the agent's capture service, which exists once the agent does.
  const holder: { agent?: Agent } = {};
  const { listen, tls, app, mergeLimits, graphs, mergeGate, answerSend, ...rest } = options;
  // Not t.testdir(): it is one directory per test, emptied by every call, and a test may run several agents.
  const ownDir = options.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'podflame-history-')) : undefined;
  if (ownDir) t.teardown(() => rmSync(ownDir, { recursive: true, force: true }));
  const history = new ContinuousProfiling({
    dataDir: options.dataDir ?? (ownDir as string),
    nodeName,
    capture: (request) => captureThrough((holder.agent as Agent).captures)(request),
    containers: runtime,
    registry,
    logger,
    schedulesReloadMs: 0,
    ...rest,
  });
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig({
      nodeName,
      ...(listen ? { listen } : {}),
      ...(tls ? { tlsCert: tls.certFile, tlsKey: tls.keyFile } : {}),
    }),
    runtime,
    logger,
    app: {
      ...app,
      routers: [
        ...(app?.routers ?? []),
        historyRouter({
          ...history.routes,
          ...(mergeLimits ? { mergeLimits } : {}),
          ...(graphs ? { graphs } : {}),
          ...(mergeGate ? { mergeGate } : {}),
          ...(answerSend ? { answerSend } : {}),
        }),
      ],
    },
  });
  holder.agent = agent;
  const { url } = await agent.start();
  await history.start();
  t.teardown(async () => {
    await history.close();
    await agent.close();
  });
  return { url, agent, history, runtime, registry, logLines: lines };
}
