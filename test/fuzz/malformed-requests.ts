/**
 * Seeded generator of malformed requests to the agent's HTTP API, for test/fuzz/http-api.test.ts. Every request it
 * makes must be refused with a documented 4xx: none names a container that exists, none is a valid read of something
 * that exists, so a 2xx or 5xx answer is a finding. Categories: bad JSON, wrong types, out-of-range and huge numbers,
 * unknown fields (prototype keys among them), unicode and control characters, shell metacharacters, path traversal in
 * ids, wrong methods and paths, odd content types and encodings, oversize bodies and headers, bad credentials.
 */

export interface FuzzRequest {
  category: string;
  method: string;
  /** Path and query, already percent-encoded where HTTP requires it. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Sent without a valid token (the agent runs with --auth token). */
  unauthenticated?: boolean;
}

/** mulberry32: small, fast and seedable, so a failing request can be replayed from the seed and index. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

function hex(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[int(rng, 0, 15)];
  return s;
}

const SHELL = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  '| nc 127.0.0.1 1',
  '&& reboot',
  '\n/bin/sh',
  "' OR 1=1 --",
  '${IFS}',
  '>/etc/x',
];
const UNICODE = ['ünïcødé', '名前', '🔥🔥', '\u202eevil', 'a\u0000b', '\ud800', 'ａｐｐ', 'ß', '\u200b', 'İ'];
const TRAVERSAL = [
  '../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f%2e%2e',
  '....//....//',
  '/etc/shadow',
  '..\\..\\',
];
const BAD_NUMBERS: readonly unknown[] = [
  0,
  -1,
  10000,
  5000,
  1e20,
  -1e20,
  2.5,
  Number.MAX_SAFE_INTEGER + 2,
  1e308,
  -0.0001,
];
const WRONG_TYPES: readonly unknown[] = ['5', true, null, [], {}, [5], { value: 5 }, '', 'NaN'];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

/** A string that is valid JSON for a value the schema rejects. */
function jsonValue(rng: Rng, depth = 0): unknown {
  switch (int(rng, 0, 7)) {
    case 0:
      return pick(rng, BAD_NUMBERS);
    case 1:
      return pick(rng, WRONG_TYPES);
    case 2:
      return pick(rng, SHELL);
    case 3:
      return pick(rng, UNICODE);
    case 4:
      return 'x'.repeat(int(rng, 200, 5000));
    case 5:
      return depth < 3 ? { [pick(rng, ['a', 'target', ...PROTO_KEYS])]: jsonValue(rng, depth + 1) } : 1;
    case 6:
      return depth < 3 ? [jsonValue(rng, depth + 1), jsonValue(rng, depth + 1)] : [];
    default:
      return pick(rng, TRAVERSAL);
  }
}

/** A target that cannot name an existing container: bad shapes, or random ids no container has. */
function badTarget(rng: Rng): unknown {
  switch (int(rng, 0, 9)) {
    case 0:
      return { containerId: hex(rng, int(rng, 1, 11)) }; // too short for a prefix
    case 1:
      return { containerId: `${hex(rng, 12)}${pick(rng, [...SHELL, ...UNICODE])}` };
    case 2:
      return { podUid: pick(rng, [...SHELL, ...TRAVERSAL, ...UNICODE]), container: 'app' };
    case 3:
      return {
        podUid: `${hex(rng, 8)}-${hex(rng, 4)}-${hex(rng, 4)}-${hex(rng, 4)}-${hex(rng, 12)}`,
        container: `app${pick(rng, SHELL)}`,
      };
    case 4:
      return {
        podUid: `${hex(rng, 8)}-${hex(rng, 4)}`,
        container: pick(rng, ['App', '-app', 'a'.repeat(64), 'a_b', ...UNICODE]),
      };
    case 5:
      return { containerId: hex(rng, 64), podUid: hex(rng, 32), container: 'app' }; // both shapes at once
    case 6:
      return { containerId: hex(rng, 64), [pick(rng, PROTO_KEYS)]: { polluted: true } };
    case 7:
      return jsonValue(rng);
    case 8:
      return { image: 'alpine', command: ['sh', '-c', 'id'], capAdd: ['ALL'], privileged: true };
    default:
      return {};
  }
}

/** A body whose target is well-formed but names no container on this node (answered 404 TARGET_NOT_FOUND). */
function absentTarget(rng: Rng): Record<string, unknown> {
  return rng() < 0.5
    ? { containerId: `fe${hex(rng, int(rng, 10, 62))}` }
    : { podUid: `fe${hex(rng, 6)}-${hex(rng, 4)}-${hex(rng, 4)}-${hex(rng, 4)}-${hex(rng, 12)}`, container: 'app' };
}

function profileBody(rng: Rng): { category: string; body: string | Buffer; headers?: Record<string, string> } {
  const valid = (): Record<string, unknown> => ({ target: absentTarget(rng), durationSeconds: 2, frequencyHz: 49 });
  switch (int(rng, 0, 13)) {
    case 0: {
      // Truncated or otherwise broken JSON.
      const text = JSON.stringify(valid());
      const broken = pick(rng, [
        text.slice(0, int(rng, 0, text.length - 1)),
        text.replace(/}$/, ',}'),
        text.replace(/"/g, "'"),
        `${text}${text}`,
        `{"target": NaN}`,
        `{"durationSeconds": Infinity}`,
        `// comment\n${text}`,
        '\ufeff' + text,
        'null',
        '',
      ]);
      return { category: 'bad-json', body: broken };
    }
    case 1: {
      const depth = int(rng, 1_000, 200_000);
      return { category: 'deep-nesting', body: '['.repeat(depth) + ']'.repeat(depth) };
    }
    case 2: {
      const b = valid();
      b[pick(rng, ['durationSeconds', 'frequencyHz'])] = pick(rng, [...BAD_NUMBERS, ...WRONG_TYPES]);
      return { category: 'bad-number', body: JSON.stringify(b) };
    }
    case 3: {
      const b = valid();
      const huge = pick(rng, ['1e400', '-1e400', '123456789012345678901234567890', '0x10', '1_000', '.5', '01', '+3']);
      return {
        category: 'huge-number',
        body: JSON.stringify(b).replace('"durationSeconds":2', `"durationSeconds":${huge}`),
      };
    }
    case 4: {
      const b = valid();
      b[pick(rng, ['image', 'captureImage', 'capAdd', 'privileged', 'cmd', 'extra', ...PROTO_KEYS])] = jsonValue(rng);
      // JSON.stringify drops a __proto__ set by assignment; write the key into the text instead.
      return {
        category: 'unknown-field',
        body: JSON.stringify(b).replace(/^\{/, `{"${pick(rng, PROTO_KEYS)}":{"x":1},`),
      };
    }
    case 5:
      return { category: 'bad-target', body: JSON.stringify({ ...valid(), target: badTarget(rng) }) };
    case 6: {
      const b = valid();
      b.format = pick(rng, ['png', 'SVG', 'pprof ', '../svg', '', 7, null, ...SHELL]);
      return { category: 'bad-format', body: JSON.stringify(b) };
    }
    case 7: {
      const b = valid();
      b.render = pick(rng, [
        { width: 1e9 },
        { width: '800' },
        { minwidth: '5%%' },
        { colors: 'x'.repeat(50) },
        { palette: '/etc/passwd' },
        { cp: true },
        { title: 'x'.repeat(300) },
        'svg',
        [],
      ]);
      return { category: 'bad-render', body: JSON.stringify(b) };
    }
    case 8: {
      const b = valid();
      b.title = pick(rng, ['x'.repeat(201), 5, [], { t: 1 }]);
      return { category: 'bad-title', body: JSON.stringify(b) };
    }
    case 9:
      return { category: 'not-an-object', body: JSON.stringify(jsonValue(rng)) };
    case 10:
      return { category: 'too-large', body: Buffer.alloc(int(rng, 65 * 1024, 2 * 1024 * 1024), 0x20) };
    case 11: {
      const headers = pick<Record<string, string>>(rng, [
        { 'content-type': 'application/json; charset=utf-16' },
        { 'content-type': 'application/json; charset=latin9' },
        { 'content-encoding': 'gzip' },
        { 'content-encoding': 'deflate' },
        { 'content-encoding': 'br' },
        { 'content-encoding': 'compress' },
      ]);
      return { category: 'bad-encoding', body: JSON.stringify(valid()), headers };
    }
    case 12:
      return { category: 'absent-target', body: JSON.stringify(valid()) };
    default: {
      const bytes = Buffer.alloc(int(rng, 1, 300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(rng, 0, 255);
      return { category: 'binary', body: bytes };
    }
  }
}

/** A string's UTF-8 bytes as a latin1 header value, control characters (which no client may send) as '?'. */
function headerBytes(text: string): string {
  return [...Buffer.from(text, 'utf8').toString('latin1')]
    .map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? '?' : ch))
    .join('');
}

/** Percent-encodes every byte of the UTF-8 form but unreserved characters (a lone surrogate becomes U+FFFD). */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function badId(rng: Rng): string {
  return pick(rng, [
    percentEncode(pick(rng, [...TRAVERSAL, ...SHELL, ...UNICODE])),
    hex(rng, 36),
    'x'.repeat(int(rng, 1, 2000)),
    '%00',
    '%2F%2E%2E',
    '..',
  ]);
}

/** The index-th request of the run seeded with `seed`, deterministic. */
export function malformedRequest(seed: number, index: number): FuzzRequest {
  const rng = seededRandom((seed * 1_000_003 + index) >>> 0);
  const r = rng();
  let req: FuzzRequest;
  if (r < 0.55) {
    const { category, body, headers } = profileBody(rng);
    const query = pick(rng, ['', '', '?async=1', '?async=true&format=svg', '?async=%ZZ', `?${'a=1&'.repeat(200)}`]);
    req = {
      category,
      method: 'POST',
      path: `/v1/profiles${query}`,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    };
  } else if (r < 0.7) {
    const suffix = pick(rng, ['', '/flamegraph.svg', '/folded', '/../../../etc/passwd', '/x/y/z']);
    req = { category: 'unknown-profile-id', method: 'GET', path: `/v1/profiles/${badId(rng)}${suffix}`, headers: {} };
  } else if (r < 0.8) {
    const [method, path] = pick(rng, [
      ['PUT', '/v1/profiles'],
      ['DELETE', '/v1/profiles'],
      ['PATCH', '/v1/profiles'],
      ['POST', '/v1/targets'],
      ['DELETE', '/v1/targets'],
      ['PUT', `/v1/profiles/${hex(rng, 32)}`],
      ['DELETE', `/v1/profiles/${hex(rng, 32)}`],
      ['POST', `/v1/profiles/${hex(rng, 32)}/folded`],
      ['TRACE', '/v1/profiles'],
      ['GET', '/v2/profiles'],
      ['GET', `/v1/${percentEncode(pick(rng, TRAVERSAL))}`],
      ['POST', '/v1/profiles/'.replace('/v1', '//v1')],
      ['GET', '/v1/targets/../../../../etc/passwd'],
      ['POST', '/v1/profile'],
    ] as const);
    req = {
      category: 'wrong-method-or-path',
      method,
      path,
      headers: { 'content-type': 'application/json' },
      body: '{}',
    };
    if (method === 'GET' || method === 'TRACE') delete req.body;
  } else if (r < 0.85) {
    const size = int(rng, 17 * 1024, 64 * 1024);
    req = {
      category: 'huge-header',
      method: pick(rng, ['GET', 'POST']),
      path: pick(rng, ['/v1/targets', '/v1/profiles']),
      headers: { [pick(rng, ['x-padding', 'cookie', 'user-agent'])]: 'a'.repeat(size) },
    };
  } else if (r < 0.9) {
    req = {
      category: 'bad-path-encoding',
      method: pick(rng, ['GET', 'POST']),
      path: pick(rng, [
        '/v1/profiles/%E0%A4%A',
        '/v1/profiles/%',
        '/v1/profiles/%ZZ',
        '/v1/profiles/%C0%AE%C0%AE',
        '/v1/%FF',
      ]),
      headers: {},
    };
  } else {
    // Credentials: missing, wrong scheme, wrong token, oversize; the body would otherwise be accepted as far as 404.
    const authorization = pick(rng, [
      undefined,
      'Basic YWRtaW46YWRtaW4=',
      'Bearer',
      `Bearer ${hex(rng, 40)}`,
      `Bearer ${'A'.repeat(int(rng, 2000, 8000))}`,
      'bearer $(id)',
      // HTTP header values are bytes: a unicode token goes as its UTF-8 bytes (obs-text), as a browser would send it.
      `Bearer ${headerBytes(pick(rng, UNICODE))}`,
      'Negotiate xyz',
    ]);
    req = {
      category: 'bad-credentials',
      method: 'POST',
      path: '/v1/profiles',
      headers: {
        'content-type': 'application/json',
        ...(authorization === undefined
          ? {}
          : { [pick(rng, ['authorization', 'x-podflame-authorization'])]: authorization }),
      },
      body: JSON.stringify({ target: absentTarget(rng), durationSeconds: 2 }),
      unauthenticated: true,
    };
  }
  return req;
}
