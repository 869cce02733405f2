/**
 * A stand-in Pyroscope server: a real HTTP server on loopback whose `POST /ingest` reads each request exactly as
 * Pyroscope's own ingest handler does (grafana/pyroscope, pkg/ingester/pyroscope/ingest_handler.go and what it
 * calls), so a push it accepts is one Pyroscope accepts, with the same meaning:
 *
 * - `name`: labelset.Parse — the service name up to `{`, then `key=value` pairs up to `,` or `}`, each trimmed;
 *   service names may use `[A-Za-z0-9_.\-/]`, label names `[A-Za-z0-9_.]`; an error is a 400.
 *   The last dot-segment of the service name is the profile type (`podflame.cpu` → app `podflame`, type `cpu`);
 *   an unknown type is a 400.
 * - `from`/`until`: attime.Parse — digits only: 8 digits are YYYYMMDD, 13 ms, 16 µs, 19 ns, anything else seconds.
 * - `sampleRate`: strconv.Atoi, 100 when absent or invalid. `spyName`: "unknown" when absent.
 * - `units`: samples when absent; else one of Pyroscope's metadata units (samples, objects, goroutines, bytes,
 *   lock_nanoseconds, lock_samples: metadata.IsValidUnit), another is a 400. `aggregationType`: sum when absent; else
 *   sum or average (metadata.IsValidAggregationType), another is a 400.
 * - `format`: trie, tree, lines, jfr, pprof, speedscope are other formats; anything else (`folded` included) is the
 *   "groups" format, parsed by convert.ParseGroups: lines read with bufio.Scanner (a line over 64 KiB ends the scan
 *   without an error: the rest of the profile is silently lost), split at the LAST space, a line without one
 *   skipped, a count that is not an integer (Atoi) fails the request with 422.
 * - For type cpu, values are scaled by 1e9/sampleRate into CPU nanoseconds.
 * - The series a push lands in (pyroscopeIngesterAdapter's convertMetadata): `__name__` metric, sample type and unit,
 *   e.g. `lock_duration` → `block:delay:nanoseconds`, `lock_count` → `block:contentions:count`, as a Java agent's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IngestedProfile {
  app: string;
  profileType: string;
  labels: Record<string, string>;
  fromSeconds: number;
  untilSeconds: number;
  sampleRate: number;
  /** `units` as given, `samples` when absent. */
  units: string;
  /** `aggregationType` as given, `sum` when absent. */
  aggregationType: string;
  spyName: string;
  format: string;
  /** Stack (frames joined by `;`) → sample count, as Pyroscope's tree would hold it. */
  stacks: Map<string, number>;
  /** `metric:sampleType:unit` of the series Pyroscope stores the push in (convertMetadata), e.g. `block:contentions:count`. */
  seriesType: string;
  /** Stack → CPU nanoseconds (count × 1e9/sampleRate), for type cpu. */
  cpuNanos: Map<string, number>;
  /** True when a line over 64 KiB cut the parse short (Pyroscope does this silently). */
  truncated: boolean;
  rawBody: Buffer;
  contentType: string | undefined;
}

export interface FakePyroscope {
  url: string;
  ingested: IngestedProfile[];
  /** Every /ingest request with the status it got, accepted or not. */
  requests: { url: string; status: number }[];
  /** The next `count` requests get `status` (e.g. 503) before anything is parsed. */
  failNext(count: number, status: number): void;
  close(): Promise<void>;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const UNITS = new Set(['samples', 'objects', 'goroutines', 'bytes', 'lock_nanoseconds', 'lock_samples']);
const AGGREGATION_TYPES = new Set(['sum', 'average']);

const LABEL_NAME = /^[A-Za-z0-9_.]+$/;
const SERVICE_NAME = /^[A-Za-z0-9_.\-/]+$/;

/** labelset.Parse: a character state machine over `name + "{"`. */
export function parsePyroscopeName(name: string): { serviceName: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  let serviceName = '';
  let state: 'name' | 'key' | 'value' | 'done' = 'name';
  let key = '';
  let value = '';
  for (const r of name + '{') {
    switch (state) {
      case 'name':
        if (r === '{') {
          state = 'key';
          serviceName = value.trim();
          if (serviceName === '') throw new BadRequest('name: service name is required', 400);
          if (!SERVICE_NAME.test(serviceName)) throw new BadRequest(`name: invalid service name: ${serviceName}`, 400);
        } else value += r;
        break;
      case 'key':
        if (r === '}') state = 'done';
        else if (r === '=') {
          state = 'value';
          value = '';
        } else key += r;
        break;
      case 'value':
        if (r === ',' || r === '}') {
          state = 'key';
          const k = key.trim();
          if (k !== '__name__') {
            if (k === '') throw new BadRequest('name: label name is required', 400);
            if (!LABEL_NAME.test(k)) throw new BadRequest(`name: invalid label name: ${k}`, 400);
          }
          labels[k] = value.trim();
          key = '';
        } else value += r;
        break;
      case 'done':
        break;
    }
  }
  return { serviceName, labels };
}

/** attime.Parse for what agents send (digits); anything else is "now" plus an offset, which we do not expect. */
export function parseAtTime(text: string, nowSeconds: number): number {
  const s = text.trim().replaceAll('_', '').replaceAll(',', '').replaceAll(' ', '');
  if (/^\d+$/.test(s)) {
    if (s.length === 8) {
      const y = Number(s.slice(0, 4));
      const m = Number(s.slice(4, 6));
      const d = Number(s.slice(6, 8));
      if (y > 1900 && m >= 1 && m < 13 && d >= 1 && d < 32) return Date.UTC(y, m - 1, d) / 1000;
    }
    const v = Number(s);
    switch (s.length) {
      case 13:
        return Math.floor(v / 1e3);
      case 16:
        return Math.floor(v / 1e6);
      case 19:
        return Math.floor(v / 1e9);
      default:
        return v;
    }
  }
  return nowSeconds;
}

/** strconv.Atoi: optional sign, decimal digits, nothing else. */
function atoi(text: string): number | undefined {
  return /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
}

const OTHER_FORMATS = new Set(['trie', 'tree', 'lines', 'jfr', 'pprof', 'speedscope']);
// pyroscopeIngesterAdapter's convertMetadata: every other type is "unknown profile type".
const KNOWN_TYPES = new Set([
  'cpu',
  'wall',
  'itimer',
  'inuse_objects',
  'inuse_space',
  'alloc_objects',
  'alloc_space',
  'goroutines',
  'mutex_count',
  'mutex_duration',
  'block_count',
  'block_duration',
  'alloc_in_new_tlab_objects',
  'alloc_in_new_tlab_bytes',
  'alloc_outside_tlab_objects',
  'alloc_outside_tlab_bytes',
  'lock_count',
  'lock_duration',
  'live',
  'exceptions',
  'seconds',
  'nanoseconds',
  'microseconds',
  'milliseconds',
  'bytes',
]);
const SCANNER_MAX_TOKEN = 64 * 1024;

/** convertMetadata: profile type → [metric, sample type, unit] (for cpu and wall, before sampleRate scaling). */
export function pyroscopeSeriesType(profileType: string): string {
  const memory = (unit: string) => ['memory', profileType, unit];
  const table: Record<string, string[]> = {
    cpu: ['process_cpu', 'samples', 'count'],
    itimer: ['process_cpu', 'samples', 'count'],
    wall: ['wall', 'samples', 'count'],
    inuse_objects: memory('count'),
    inuse_space: memory('bytes'),
    alloc_objects: memory('count'),
    alloc_space: memory('bytes'),
    goroutines: ['goroutine', 'goroutines', 'count'],
    mutex_count: ['mutex', 'contentions', 'count'],
    mutex_duration: ['mutex', 'delay', 'nanoseconds'],
    block_count: ['block', 'contentions', 'count'],
    block_duration: ['block', 'delay', 'nanoseconds'],
    alloc_in_new_tlab_objects: memory('count'),
    alloc_in_new_tlab_bytes: memory('bytes'),
    alloc_outside_tlab_objects: memory('count'),
    alloc_outside_tlab_bytes: memory('bytes'),
    lock_count: ['block', 'contentions', 'count'],
    lock_duration: ['block', 'delay', 'nanoseconds'],
    live: ['memory', 'live', 'count'],
    exceptions: ['exceptions', 'samples', 'count'],
    seconds: ['wall', 'samples', 'count'],
    nanoseconds: ['wall', 'samples', 'count'],
    microseconds: ['wall', 'samples', 'count'],
    milliseconds: ['wall', 'samples', 'count'],
    bytes: ['memory', 'samples', 'bytes'],
  };
  const found = table[profileType];
  if (found === undefined) throw new BadRequest(`unknown profile type: ${profileType}`, 400);
  return found.join(':');
}

/** convert.ParseGroups over a bufio.Scanner (ScanLines: `\n` ends a line, a trailing `\r` is dropped). */
function parseGroups(body: Buffer): { stacks: Map<string, number>; truncated: boolean } {
  const stacks = new Map<string, number>();
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(0x0a, start);
    const last = end === -1;
    if (last) end = body.length;
    let line = body.subarray(start, end);
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    // The scanner's buffer holds at most 64 KiB including the newline: a longer token stops Scan() with an error
    // that ParseGroups never reads.
    if (end - start + (last ? 0 : 1) > SCANNER_MAX_TOKEN) return { stacks, truncated: true };
    start = end + 1;
    const space = line.lastIndexOf(0x20);
    if (space === -1) continue;
    const stack = line.subarray(0, space).toString('utf8');
    const count = atoi(line.subarray(space + 1).toString('utf8'));
    if (count === undefined) {
      throw new BadRequest(`strconv.Atoi: parsing "${line.subarray(space + 1).toString('utf8')}": invalid syntax`, 422);
    }
    // The tree adds repeated stacks together.
    stacks.set(stack, (stacks.get(stack) ?? 0) + count);
  }
  return { stacks, truncated: false };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startFakePyroscope(): Promise<FakePyroscope> {
  const ingested: IngestedProfile[] = [];
  const requests: FakePyroscope['requests'] = [];
  let failures: { count: number; status: number } = { count: 0, status: 503 };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://pyroscope');
    const answer = (status: number, text: string) => {
      requests.push({ url: req.url ?? '', status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    };
    if (req.method !== 'POST' || url.pathname !== '/ingest') return answer(404, 'not found');
    const body = await readBody(req);
    if (failures.count > 0) {
      failures = { ...failures, count: failures.count - 1 };
      return answer(failures.status, 'injected failure');
    }
    try {
      const q = url.searchParams;
      const { serviceName, labels } = parsePyroscopeName(q.get('name') ?? '');
      const nowSeconds = Math.floor(Date.now() / 1000);
      const fromSeconds = q.get('from') ? parseAtTime(q.get('from') as string, nowSeconds) : nowSeconds;
      const untilSeconds = q.get('until') ? parseAtTime(q.get('until') as string, nowSeconds) : nowSeconds;
      const sampleRate = atoi(q.get('sampleRate') ?? '') ?? 100;
      const spyName = q.get('spyName') || 'unknown';
      const units = q.get('units') ?? 'samples';
      if (!UNITS.has(units)) throw new BadRequest(`invalid units: ${units}`, 400);
      const aggregationType = q.get('aggregationType') ?? 'sum';
      if (!AGGREGATION_TYPES.has(aggregationType)) {
        throw new BadRequest(`invalid aggregationType: ${aggregationType}`, 400);
      }
      const format = q.get('format') ?? '';
      if (OTHER_FORMATS.has(format)) throw new BadRequest(`format ${format} is not what podflame sends`, 400);
      const parts = serviceName.split('.');
      const profileType = parts.length <= 1 ? 'cpu' : (parts[parts.length - 1] as string);
      const app = parts.length <= 1 ? serviceName : parts.slice(0, -1).join('.');
      if (!KNOWN_TYPES.has(profileType)) throw new BadRequest(`unknown profile type: ${profileType}`, 400);
      const { stacks, truncated } = parseGroups(body);
      const cpuNanos = new Map<string, number>();
      if (profileType === 'cpu' && sampleRate !== 0) {
        const period = Math.trunc(1e9 / sampleRate);
        for (const [k, v] of stacks) cpuNanos.set(k, v * period);
      }
      ingested.push({
        app,
        profileType,
        labels,
        fromSeconds,
        untilSeconds,
        sampleRate,
        units,
        aggregationType,
        spyName,
        format,
        seriesType: pyroscopeSeriesType(profileType),
        stacks,
        cpuNanos,
        truncated,
        rawBody: body,
        contentType: req.headers['content-type'],
      });
      answer(200, '');
    } catch (err) {
      if (err instanceof BadRequest) return answer(err.status, err.message);
      throw err;
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ingested,
    requests,
    failNext(count, status) {
      failures = { count, status };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
