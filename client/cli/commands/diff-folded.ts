import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { FoldedDiffer, serializeDiff, type DiffFoldedOptions } from '../../../shared/diff/diff-folded.js';
import { PodflameError } from '../../../shared/errors.js';
import { fileErrorReason } from '../../../shared/file-error.js';

/** Flags as difffolded.pl spells them. */
interface DiffFoldedFlags {
  n?: boolean;
  s?: boolean;
}

export function diffFoldedOptionsFromFlags(flags: DiffFoldedFlags): Partial<DiffFoldedOptions> {
  return { normalize: flags.n === true, stripHex: flags.s === true };
}

/** `podflame diff-folded [-n] [-s] BEFORE AFTER`: difffolded.pl, for differential flame graphs. */
export function registerDiffFolded(program: Command, io: CliIO): void {
  program
    .command('diff-folded')
    .description(
      'diff two folded profiles (as difffolded.pl): prints "stack countBefore countAfter" per stack, ' +
        'the input of a differential flame graph (podflame render)',
    )
    .argument('<before>', 'folded file of the first profile ("-" for stdin)')
    .argument('<after>', 'folded file of the second profile ("-" for stdin)')
    .option('-n', "normalize: scale the first profile to the second one's total sample count")
    .option('-s', 'strip hex numbers (addresses) from stacks, so that moved addresses still match')
    .addHelpText(
      'after',
      '\nExample:\n  podflame diff-folded before.folded after.folded | podflame render > diff.svg\n' +
        'Also consider swapping the files and the hues to highlight what shrank:\n' +
        '  podflame diff-folded after.folded before.folded | podflame render --negate > diff1.svg\n',
    )
    .action(async (before: string, after: string, flags: DiffFoldedFlags) => {
      if (before === '-' && after === '-') {
        throw new PodflameError('USAGE', 'only one of BEFORE and AFTER can be "-" (stdin)');
      }
      const differ = new FoldedDiffer(diffFoldedOptionsFromFlags(flags));
      await forEachLine(openInput(before, 'BEFORE', io), before, 'BEFORE', (line) => differ.addBefore(line));
      await forEachLine(openInput(after, 'AFTER', io), after, 'AFTER', (line) => differ.addAfter(line));
      const result = differ.finish();
      const { before: badBefore, after: badAfter } = result.invalidLines;
      if (badBefore + badAfter > 0) {
        io.stderr.write(
          `podflame diff-folded: ${badBefore} line(s) of ${before} and ${badAfter} line(s) of ${after} are not ` +
            '"stack count"; each counts as the empty stack with 0 samples (the " 0 0" line), as in difffolded.pl\n',
        );
      }
      // Folded files are bytes to perl: latin1 maps each byte to one character and back, so any bytes survive.
      await new Promise<void>((done, fail) =>
        io.stdout.write(Buffer.from(serializeDiff(result), 'latin1'), (err) => (err ? fail(err) : done())),
      );
    });
}

function openInput(path: string, role: string, io: CliIO): Readable {
  if (path === '-') return io.stdin;
  if (path === '') throw new PodflameError('USAGE', `${role} is an empty path`);
  return createReadStream(resolve(io.cwd, path));
}

/** Calls `onLine` for each `\n`-terminated line (and a last unterminated one), as perl's `<FILE>` + chomp sees them. */
async function forEachLine(input: Readable, path: string, role: string, onLine: (line: string) => void): Promise<void> {
  // Parts of a line not yet ended; kept as a list so that a very long line is joined once, not once per chunk.
  let pending: string[] = [];
  try {
    for await (const chunk of input) {
      const text = typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('latin1');
      const lastNewline = text.lastIndexOf('\n');
      if (lastNewline === -1) {
        pending.push(text);
        continue;
      }
      pending.push(text.slice(0, lastNewline));
      for (const line of pending.join('').split('\n')) onLine(line);
      pending = [text.slice(lastNewline + 1)];
    }
  } catch (err) {
    throw new PodflameError(
      'FILE_UNREADABLE',
      `cannot read ${role} file ${path}: ${fileErrorReason(err)}; check the path`,
      {
        cause: err,
        details: { path },
      },
    );
  }
  const last = pending.join('');
  if (last !== '') onLine(last);
}
