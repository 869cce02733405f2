/**
 * An agent process's parts in one test process: the real Agent (HTTP app, capture service) around the in-memory
 * runtime of the agent tests, with continuous profiling wired as main.ts wires it.
 */
import type { Test } from 'tap';
import { Registry } from 'prom-client';
import { Agent } from '../../agent/agent.js';
import { ContinuousProfiling, type ContinuousProfilingOptions } from '../../agent/schedules/continuous-profiling.js';
import { captureThrough } from '../../agent/schedules/capture-adapter.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';

export interface HistoryAgent {
  url: string;
  agent: Agent;
  history: ContinuousProfiling;
  runtime: FakeRuntime;
  registry: Registry;
}

export async function startHistoryAgent(
  t: Test,
  options: Partial<ContinuousProfilingOptions> & { nodeName?: string; dataDir?: string } = {},
): Promise<HistoryAgent> {
  const runtime = new FakeRuntime();
  runtime.images.add('podflame-perf:latest');
  const { logger } = memoryLogger();
  const nodeName = options.nodeName ?? 'node-a';
  const registry = new Registry();
  // The scheduler's captures go through the agent's capture service, which exists once the agent does.
  const holder: { agent?: Agent } = {};
  const history = new ContinuousProfiling({
    dataDir: options.dataDir ?? t.testdir(),
    nodeName,
    capture: (request) => captureThrough((holder.agent as Agent).captures)(request),
    containers: runtime,
    registry,
    logger,
    schedulesReloadMs: 0,
    ...options,
  });
  const agent = new Agent({
    config: testConfig({ nodeName }),
    runtime,
    logger,
    app: { routers: [history.router] },
  });
  holder.agent = agent;
  const { url } = await agent.start();
  await history.start();
  t.teardown(async () => {
    await history.close();
    await agent.close();
  });
  return { url, agent, history, runtime, registry };
}
