/** Small HTTP helpers for the agent's tests (undici, as the client uses). */
import { Writable } from 'node:stream';
import { request } from 'undici';
import { DEFAULT_AGENT_CONFIG, type AgentConfig } from '../../agent/config.js';
import { createLogger, type Logger } from '../../agent/logging.js';

export interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export async function call(
  base: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  options: { raw?: string | Buffer; contentType?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<Answer> {
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await request(base + path, {
    method,
    ...(payload !== undefined ? { body: payload } : {}),
    headers: payload !== undefined ? { 'content-type': options.contentType ?? 'application/json' } : {},
    headersTimeout: options.timeoutMs ?? 120_000,
    bodyTimeout: options.timeoutMs ?? 120_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const text = await res.body.text();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers, text, json };
}

/** A logger whose JSON lines the test can read back. */
export function memoryLogger(level: AgentConfig['logLevel'] = 'info'): {
  logger: Logger;
  lines: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    logger: createLogger(level, sink),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * The agent's configuration for a test: its defaults, on a free loopback port, except a capture's time budget: tests
 * run beside other tests' JVMs and perf, where a JFR capture's start alone took over the default's 60 s (load 20-30
 * on 2 CPUs); a test of that budget sets its own.
 */
export function testConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    ...DEFAULT_AGENT_CONFIG,
    listen: { host: '127.0.0.1', port: 0 },
    nodeName: 'test-node',
    requestTimeoutSeconds: 600,
    ...overrides,
  };
}

/** An assertion message that shows the answer only when it is not what was expected. */
export function statusNote(a: Answer, expected = 200): string {
  return a.status === expected ? `HTTP ${expected}` : `HTTP ${a.status}: ${a.text.slice(0, 800)}`;
}
