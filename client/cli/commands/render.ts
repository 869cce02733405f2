import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, type Command } from 'commander';
import type { CliIO } from '../io.js';
import { asPodflameError, PodflameError } from '../../../shared/errors.js';
import { fileErrorReason } from '../../../shared/file-error.js';
import { renderFlameGraphFromBytes } from '../../../shared/render/flamegraph.js';
import { parseNameAttrs } from '../../../shared/render/nameattr.js';
import { resolveRenderOptions, type RenderOptions } from '../../../shared/render/options.js';
import { parsePaletteMap, serializePaletteMap } from '../../../shared/render/palette-map.js';

/** Flags as flamegraph.pl spells them (`--title`, `--minwidth`, `--cp`, ...), after commander's parsing. */
export interface RenderFlags {
  title?: string;
  subtitle?: string;
  width?: number;
  height?: number;
  minwidth?: string;
  fonttype?: string;
  fontsize?: number;
  fontwidth?: number;
  countname?: string;
  nametype?: string;
  colors?: string;
  bgcolors?: string;
  hash?: boolean;
  random?: boolean;
  cp?: boolean;
  reverse?: boolean;
  inverted?: boolean;
  flamechart?: boolean;
  negate?: boolean;
  factor?: number;
  notes?: string;
  nameattr?: string;
  total?: number;
  encoding?: string;
}

/** flamegraph.pl's palette file, read from and written back to the working directory with --cp. */
export const PALETTE_FILE = 'palette.map';

/**
 * flamegraph.pl exits 2 when no input line has a count, and scripts check for it; EMPTY_INPUT's general exit status
 * is 1, so this command keeps perl's.
 */
class NoStacksError extends PodflameError {
  override get exitCode(): number {
    return 2;
  }
}

function parseInteger(value: string): number {
  if (!/^[-+]?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}

/** The library options for the flags (file-based ones, --nameattr and --cp's map, are read by the command). */
export function renderOptionsFromFlags(flags: RenderFlags): Partial<RenderOptions> {
  const minwidth =
    flags.minwidth === undefined ? undefined : /%$/.test(flags.minwidth) ? flags.minwidth : Number(flags.minwidth);
  if (typeof minwidth === 'number' && !Number.isFinite(minwidth)) {
    throw new PodflameError(
      'USAGE',
      `--minwidth must be pixels (e.g. 0.1) or a percentage (e.g. 0.5%), got "${flags.minwidth}"`,
    );
  }
  return {
    title: flags.title,
    subtitle: flags.subtitle,
    width: flags.width,
    height: flags.height,
    minwidth,
    fonttype: flags.fonttype,
    fontsize: flags.fontsize,
    fontwidth: flags.fontwidth,
    countname: flags.countname,
    nametype: flags.nametype,
    colors: flags.colors,
    bgcolors: flags.bgcolors,
    hash: flags.hash,
    random: flags.random,
    cp: flags.cp,
    reverse: flags.reverse,
    inverted: flags.inverted,
    flamechart: flags.flamechart,
    negate: flags.negate,
    factor: flags.factor,
    notes: flags.notes,
    total: flags.total,
    encoding: flags.encoding,
  };
}

/** A file's bytes: the renderer reads folded stacks from bytes, decoding only the names it draws. */
async function readBytes(path: string, role: string, io: CliIO): Promise<Buffer> {
  try {
    return await readFile(resolve(io.cwd, path));
  } catch (err) {
    throw new PodflameError('FILE_UNREADABLE', `cannot read ${role} ${path}: ${fileErrorReason(err)}; check the path`, {
      cause: err,
      details: { path },
    });
  }
}

async function readStream(input: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks);
}

function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((done, fail) => stream.write(text, (err) => (err ? fail(err) : done())));
}

/** `podflame render [FLAGS] [FILE...]`: flamegraph.pl. Folded stacks in (files or stdin), SVG out on stdout. */
export function registerRender(program: Command, io: CliIO): void {
  program
    .command('render')
    .description(
      'draw an interactive flame graph SVG from folded stacks (as flamegraph.pl): "stack count" lines, or ' +
        '"stack before after" for a differential graph; reads the files in turn, or stdin',
    )
    .argument('[files...]', 'folded stack files ("-" or none: stdin)')
    .option(
      '--title <text>',
      'heading (default "Flame Graph"; "Icicle Graph" with --inverted, "Flame Chart" with --flamechart)',
    )
    .option('--subtitle <text>', 'second heading line')
    .option('--width <pixels>', 'image width (default 1200)', parseInteger)
    .option('--height <pixels>', 'height of each frame (default 16)', parseInteger)
    .option('--minwidth <size>', 'omit frames narrower than this: pixels, or N% of the total (default 0.1)')
    .option('--fonttype <font>', 'font family (default "Verdana")')
    .option('--fontsize <size>', 'font size (default 12)', parseNumber)
    .option('--fontwidth <ratio>', 'average glyph width relative to the font size (default 0.59)', parseNumber)
    .option('--countname <word>', 'what the counts are (default "samples")')
    .option('--nametype <label>', 'what the names are, shown on hover (default "Function:")')
    .option(
      '--colors <palette>',
      'palette: hot (default), mem, io, wakeup, chain, java, js, perl, red, green, blue, aqua, yellow, purple, orange',
    )
    .option('--bgcolors <colour>', 'background: yellow, blue, green, grey or #rrggbb (default: by palette)')
    .option('--hash', 'colour by a hash of the function name (the same colours in every graph)')
    .option('--random', 'random colours (from a fixed seed, so the output is still reproducible)')
    .option('--cp', `consistent palette: use and update ./${PALETTE_FILE} (name->colour lines)`)
    .option('--reverse', 'reverse every stack (merge from the leaves)')
    .option('--inverted', 'icicle graph: root at the top')
    .option('--flamechart', 'keep input order (time left to right) instead of sorting')
    .option('--negate', 'swap differential hues (red = shrank, blue = grew)')
    .option('--factor <n>', 'multiply counts by this in the titles (default 1)', parseNumber)
    .option('--notes <text>', 'text for a comment at the top of the SVG')
    .option(
      '--nameattr <file>',
      'per-function attributes: "name<TAB>key=value<TAB>..." lines (title, id, class, href, ...)',
    )
    .option('--total <n>', 'width the whole graph stands for, when larger than the sum of counts', parseNumber)
    .option('--encoding <name>', 'encoding named in the XML declaration (the output is UTF-8)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  podflame collapse --java perf.txt | podflame render --colors java --hash > profile.svg\n' +
        '  podflame diff-folded before.folded after.folded | podflame render --title "Before vs after" > diff.svg\n' +
        'Warnings (ignored lines, a low stack count) go to stderr. Exits 2 when no line has a count.\n',
    )
    .action(async (files: string[], flags: RenderFlags) => {
      const options = renderOptionsFromFlags(flags);
      // Check the flags before reading anything, and report a bad one as a usage error (exit 2, with the usage).
      try {
        resolveRenderOptions(options);
      } catch (err) {
        if (err instanceof PodflameError) throw new PodflameError('USAGE', err.message, { details: err.details });
        throw err;
      }
      const inputs: Buffer[] = [];
      if (files.length === 0) inputs.push(await readStream(io.stdin));
      for (const file of files) {
        if (file === '') throw new PodflameError('USAGE', 'an input file name is empty');
        inputs.push(file === '-' ? await readStream(io.stdin) : await readBytes(file, 'input file', io));
      }
      if (flags.nameattr !== undefined) {
        const parsed = parseNameAttrs(
          (await readBytes(flags.nameattr, '--nameattr file', io)).toString('utf8'),
          flags.nameattr,
        );
        for (const w of parsed.warnings) io.stderr.write(`podflame render: ${w}\n`);
        options.nameattr = parsed.attrs;
      }
      const palettePath = resolve(io.cwd, PALETTE_FILE);
      if (flags.cp) {
        let text = '';
        try {
          text = await readFile(palettePath, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
            throw asPodflameError(err, 'FILE_UNREADABLE', `cannot read ${palettePath}`);
          }
        }
        options.palette = parsePaletteMap(text);
      }

      let result;
      try {
        result = renderFlameGraphFromBytes(inputs, options);
      } catch (err) {
        if (err instanceof PodflameError && err.code === 'EMPTY_INPUT') {
          throw new NoStacksError('EMPTY_INPUT', err.message, { details: err.details, cause: err });
        }
        throw err;
      }
      for (const w of result.warnings) io.stderr.write(`podflame render: ${w}\n`);
      await write(io.stdout, result.svg);
      if (flags.cp && result.palette) {
        try {
          await writeFile(palettePath, serializePaletteMap(result.palette), 'utf8');
        } catch (err) {
          throw asPodflameError(err, 'FILE_UNREADABLE', `cannot write ${palettePath}`);
        }
      }
    });
}
