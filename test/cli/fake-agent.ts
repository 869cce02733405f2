/**
 * A loopback HTTP server that answers `POST /v1/profiles` (and any other request) as an agent would, in the agent's
 * wire format: a given error (`{"error": {"code", "message"}}` with the code's HTTP status from ERROR_CODES), or a
 * folded-stacks answer. It records every request, so a test can tell whether the CLI asked anything at all.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.js';

export interface FakeAgent {
  url: string;
  /** Every request received: method, path and body (parsed as JSON when it is). */
  requests: { method: string; path: string; body: unknown }[];
  /** What the next requests get: an error code, or `ok` (one folded stack). */
  answer: ErrorCode | 'ok';
  close(): Promise<void>;
}

export interface FakeAgentOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** The node it says it runs on (X-Podflame-Node), which the Kubernetes mode checks; default node-a. */
  node?: string;
  /** The first answer (default ok). */
  answer?: ErrorCode | 'ok';
}

export async function startFakeAgent(options: FakeAgentOptions = {}): Promise<FakeAgent> {
  const agent: Omit<FakeAgent, 'url' | 'close'> = { requests: [], answer: options.answer ?? 'ok' };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a GET has no body): kept as text.
    }
    agent.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
    const headers = { 'x-podflame-node': options.node ?? 'node-a' };
    if (agent.answer === 'ok') {
      res.writeHead(200, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'x-podflame-samples': '3' });
      res.end('java;Main.main;Hot.fib 3\n');
      return;
    }
    const code = agent.answer;
    res.writeHead(ERROR_CODES[code].status, {
      ...headers,
      'content-type': 'application/json',
      // Busy answers say when to ask again; the CLI's --busy-wait 0 fails at once all the same.
      ...(ERROR_CODES[code].status === 429 || code === 'CAPTURE_IN_PROGRESS' ? { 'retry-after': '1' } : {}),
    });
    res.end(JSON.stringify({ error: { code, message: `the fake agent answers ${code}` } }));
  };
  const server = createServer((req, res) => void handler(req, res));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(agent, {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
