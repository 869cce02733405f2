/**
 * `podflame convert [FILE] --to FORMAT [-o OUT]`: a capture made elsewhere (`perf script` text, or folded stacks from
 * `podflame collapse`, flamegraph.pl's tools or an agent) into any format podflame writes, offline: SVG, folded, pprof,
 * speedscope or the JSON call tree — the same formats `podflame profile` offers.
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CliIO } from '../io.js';
import { checkOutputWritable, writeOutput } from '../output-file.js';
import { collapseStream } from '../../../shared/collapse/collapse-stream.js';
import { textChunks } from '../../../shared/collapse/input-sniff.js';
import { PodflameError } from '../../../shared/errors.js';
import { fileErrorReason } from '../../../shared/file-error.js';
import { parseFolded, type FoldedStacks } from '../../../shared/folded.js';
import { countName, PROFILE_EVENTS, type ProfileEvent } from '../../../shared/profile-events.js';
import { renderFlameGraph } from '../../../shared/render/index.js';
import { formatProfile, PROFILE_FORMATS, type ProfileFormat } from '../../profile-output.js';
import { compareBytes } from '../../../shared/folded.js';

export const INPUT_KINDS = ['auto', 'perf', 'folded'] as const;
export type InputKind = (typeof INPUT_KINDS)[number];

interface ConvertFlags {
  to?: ProfileFormat;
  output?: string;
  from: InputKind;
  java?: boolean;
  periods?: boolean;
  frequency: number;
  event: ProfileEvent;
  title?: string;
  countname?: string;
}

/** The format an output file's name implies, for `-o x.svg` without `--to`. */
export function formatFromFileName(name: string): ProfileFormat | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.svg')) return 'svg';
  if (lower.endsWith('.speedscope.json')) return 'speedscope';
  if (lower.endsWith('.json')) return 'json';
  if (/\.(pb|pb\.gz|pprof)$/.test(lower)) return 'pprof';
  if (/\.(folded|collapsed|txt)$/.test(lower)) return 'folded';
  return undefined;
}

// `stack count`: a folded line ends in a count; a perf script event line ends in `event:` and a frame line starts
// with white space. Two counts are a differential graph's line (difffolded.pl).
const FOLDED_LINE = /^\S.* \d+(?:\.\d*)?$/;
const DIFFERENTIAL_LINE = /^\S.* \d+(?:\.\d*)? \d+(?:\.\d*)?$/;

/** What the first meaningful line of the input says it is. */
export function sniffInputKind(head: string, name: string): 'perf' | 'folded' {
  const line = head
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .find((l) => l.trim() !== '' && !l.startsWith('#'));
  if (line === undefined) {
    throw new PodflameError('EMPTY_INPUT', `${name} holds no stack: give a perf script capture or folded stacks`);
  }
  if (DIFFERENTIAL_LINE.test(line)) {
    throw new PodflameError(
      'INVALID_INPUT',
      `${name} holds differential folded stacks ("stack before after"): draw them with podflame render`,
      { details: { input: name } },
    );
  }
  return FOLDED_LINE.test(line) ? 'folded' : 'perf';
}

/** The input's text chunks (gunzipped, binary refused), the first ones read ahead to tell its kind. */
async function openInput(
  file: string,
  io: CliIO,
): Promise<{ name: string; head: string; chunks: AsyncIterable<Buffer> }> {
  const name = file === '-' ? 'stdin' : file;
  let source: Readable;
  if (file === '-') {
    source = io.stdin;
  } else {
    source = createReadStream(resolve(io.cwd, file));
    await new Promise<void>((done, fail) => {
      source.once('open', () => done());
      source.once('error', (err) =>
        fail(
          new PodflameError('FILE_UNREADABLE', `cannot read ${file}: ${fileErrorReason(err)}; check the path`, {
            cause: err,
            details: { path: file },
          }),
        ),
      );
    });
  }
  const it = textChunks(source as AsyncIterable<Buffer>, name)[Symbol.asyncIterator]();
  const read: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  // Enough to hold the first lines past perf's `#` header (a few KiB) without reading a large file whole.
  while (bytes < 64 * 1024 && !ended) {
    const next = await it.next();
    if (next.done === true) ended = true;
    else {
      read.push(next.value);
      bytes += next.value.length;
    }
  }
  const head = Buffer.concat(read).toString('utf8');
  async function* chunks(): AsyncGenerator<Buffer> {
    yield* read;
    if (ended) return;
    for (let next = await it.next(); next.done !== true; next = await it.next()) yield next.value;
  }
  return { name, head, chunks: chunks() };
}

async function readAll(chunks: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

function parseFrequency(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000) {
    throw new InvalidArgumentError('expected a whole number of Hz from 1 to 100000.');
  }
  return n;
}

/** `podflame convert`: offline conversion between every profile format podflame reads and writes. */
export function registerConvert(program: Command, io: CliIO): void {
  program
    .command('convert')
    .description(
      'turn a perf script capture or folded stacks into an SVG flame graph, folded stacks, pprof, speedscope or ' +
        'a JSON call tree, offline (the formats of podflame profile)',
    )
    .argument('[file]', 'perf script text or folded stacks, gzipped or not ("-" or none: stdin)')
    .addOption(
      new Option('--to <format>', "output format (default: from -o's name, e.g. x.pb.gz)").choices(PROFILE_FORMATS),
    )
    .option('-o, --output <file>', 'where to write (stdout); checked writable before reading')
    .addOption(
      new Option('--from <kind>', 'what the input is (auto: from its first line)').choices(INPUT_KINDS).default('auto'),
    )
    .option('--java', 'perf input: Java-aware names, as podflame collapse --java')
    .option('--periods', "perf input: count perf's sample period, as stackcollapse-perf.pl (default: each sample 1)")
    .option(
      '-F, --frequency <hz>',
      'the sampling frequency of the capture: pprof and speedscope time',
      parseFrequency,
      99,
    )
    .addOption(
      new Option('-e, --event <event>', 'what the counts are: pprof sample types, speedscope unit, SVG count name')
        .choices(PROFILE_EVENTS)
        .default('cpu'),
    )
    .option('--title <text>', 'SVG title and speedscope name (default: the input file name)')
    .option('--countname <word>', 'SVG: what the counts are (default: samples; "periods" with --periods)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  perf script | podflame convert --java --to pprof -o profile.pb.gz\n' +
        '  podflame convert shop.folded -o shop.speedscope.json\n' +
        '  podflame convert perf.txt.gz --java -o perf.svg\n' +
        'Folded input keeps its counts. Perf input counts each sample once, as the agent does, unless --periods.\n',
    )
    .action(async (file: string | undefined, flags: ConvertFlags) => {
      const format = flags.to ?? (flags.output !== undefined ? formatFromFileName(flags.output) : undefined);
      if (format === undefined) {
        throw new PodflameError(
          'USAGE',
          flags.output === undefined
            ? 'convert needs --to FORMAT (svg, folded, pprof, speedscope, json)'
            : `cannot tell the format from the name ${flags.output}: add --to FORMAT (svg, folded, pprof, speedscope, json)`,
        );
      }
      await checkOutputWritable(flags.output, io);
      const input = await openInput(file ?? '-', io);
      const kind = flags.from === 'auto' ? sniffInputKind(input.head, input.name) : flags.from;
      let stacks: FoldedStacks;
      if (kind === 'perf') {
        const result = await collapseStream(input.chunks, {
          java: flags.java === true,
          countPeriods: flags.periods === true,
          signal: io.signal,
        });
        for (const warning of result.warnings) io.stderr.write(`podflame convert: ${warning}\n`);
        if (result.samples === 0 && result.unrecognizedLines > 0) {
          throw new PodflameError(
            'INVALID_INPUT',
            `no line of ${input.name} is perf script output or folded stacks (the first: ` +
              `${JSON.stringify((result.firstUnrecognizedLine ?? '').slice(0, 80))}); give --from if it is one of them`,
            { details: { input: input.name } },
          );
        }
        stacks = result.stacks;
      } else {
        const parsed = parseFolded(await readAll(input.chunks));
        if (parsed.invalidLines > 0) {
          io.stderr.write(`podflame convert: ${parsed.invalidLines} lines are not "stack count" and were skipped\n`);
        }
        stacks = parsed.stacks;
      }
      if (stacks.size === 0) {
        throw new PodflameError('EMPTY_INPUT', `${input.name} holds no stack with a count: nothing to convert`);
      }
      const title = flags.title ?? (input.name === 'stdin' ? 'Flame Graph' : input.name);
      const body =
        format === 'svg'
          ? renderSvg(
              stacks,
              title,
              flags.countname ?? (kind === 'perf' && flags.periods === true ? 'periods' : countName(flags.event)),
            )
          : formatProfile(stacks, format, {
              title,
              event: flags.event,
              frequencyHz: flags.frequency,
              durationSeconds: 0,
            }).body;
      await writeOutput(body, flags.output, io);
    });
}

function renderSvg(stacks: FoldedStacks, title: string, countname: string): Buffer {
  const lines = [...stacks.keys()].sort(compareBytes).map((s) => `${s} ${stacks.get(s)}`);
  const { svg } = renderFlameGraph(lines, { colors: 'java', countname, title });
  return Buffer.from(svg);
}
