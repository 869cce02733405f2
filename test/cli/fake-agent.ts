/**
 * A loopback HTTP server that answers `POST /v1/profiles` (and any other request) as an agent would, in the agent's
 * wire format: a given error (`{"error": {"code", "message"}}` with the code's HTTP status from ERROR_CODES), or a
 * folded-stacks answer, or a 200 of the test's own making (a hostile agent: any content type and body, sent at once or
 * a byte at a time). It records every request, so a test can tell whether the CLI asked anything at all.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.js';

export interface FakeAgent {
  url: string;
  /** Every request received: method, path and body (parsed as JSON when it is). */
  requests: { method: string; path: string; body: unknown }[];
  /** What the next requests get: an error code, `ok` (one folded stack), or a 200 of the test's own. */
  answer: FakeAnswer;
  close(): Promise<void>;
}

/** A 200 answer as the test writes it, whatever the request asked for. */
export interface RawAnswer {
  contentType: string;
  body: string | Buffer;
  /** Send the body one byte per `trickleMs` ms instead of at once. Default: at once. */
  trickleMs?: number;
}

export type FakeAnswer = ErrorCode | 'ok' | RawAnswer;

export interface FakeAgentOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** The node it says it runs on (X-Podflame-Node), which the Kubernetes mode checks; default node-a. */
  node?: string;
  /** The first answer (default ok). */
  answer?: FakeAnswer;
}

function sendRaw(res: ServerResponse, answer: RawAnswer, headers: Record<string, string>): void {
  res.writeHead(200, { ...headers, 'content-type': answer.contentType, 'x-podflame-samples': '3' });
  const body = Buffer.from(answer.body);
  if (answer.trickleMs === undefined) {
    res.end(body);
    return;
  }
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed || sent >= body.length) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(body.subarray(sent, sent + 1));
    sent += 1;
  }, answer.trickleMs);
  res.on('close', () => clearInterval(timer));
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
    if (typeof agent.answer === 'object') {
      sendRaw(res, agent.answer, headers);
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
