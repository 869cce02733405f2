/**
 * Commander's own errors (unknown command or option, missing or invalid argument, too many arguments) as podflame
 * errors, so that every error the CLI prints has one form: `podflame: MESSAGE [CODE]`, then at most one hint line.
 */
import type { CommanderError } from 'commander';
import { PodflameError } from '../../shared/errors.js';

/**
 * Commander's "errors" that are not errors: help and version shown (they are thrown only because of exitOverride),
 * and `podflame` alone, which shows the help.
 */
const NOT_ERRORS: ReadonlySet<string> = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

export function isCommanderNonError(err: CommanderError): boolean {
  return NOT_ERRORS.has(err.code) || err.exitCode === 0;
}

/**
 * The podflame error for a commander error. An unknown command is most often a pod name typed as kubectl-flame
 * takes it (`podflame mypod`), else a typo of a command: the message says which command line was meant.
 */
export function fromCommanderError(
  err: CommanderError,
  argv: readonly string[],
  commands: readonly string[],
): PodflameError {
  if (err.code === 'commander.unknownCommand') {
    const word = argv.find((a) => !a.startsWith('-')) ?? '';
    const near = closestCommand(word, commands);
    const meant =
      near === undefined
        ? `to profile a pod: podflame profile ${argv.map(shellWord).join(' ')}`
        : `did you mean podflame ${near}?`;
    return new PodflameError('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(word)}; ${meant}`, {
      cause: err,
      details: { command: word },
    });
  }
  let message = commanderMessage(err);
  // `podflame -n shop mypod`: kubectl-flame's order, a pod and its flags with no command at all.
  const noCommand = !argv.some((a) => commands.includes(a));
  if (err.code === 'commander.unknownOption' && noCommand && argv.some((a) => !a.startsWith('-'))) {
    message += `; to profile a pod: podflame profile ${argv.map(shellWord).join(' ')}`;
  }
  return new PodflameError('USAGE', message, { cause: err, details: { commanderCode: err.code } });
}

/**
 * Commander's text without its `error: ` prefix, on one line (`unknown option '--bogus'\n(Did you mean --pid?)`
 * becomes `unknown option '--bogus' (did you mean --pid?)`). The code says what went wrong; only the wording is kept.
 */
function commanderMessage(err: CommanderError): string {
  return err.message
    .replace(/^error: /, '')
    .replace(/\s*\n\(Did you mean /, ' (did you mean ')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}

/** A word as a shell would need it typed again: quoted when it holds anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command a typo most likely meant: at most two edits away (a third of the word's length for short words), as
 * commander's own suggestion does; none for a word that is far from every command (a pod name).
 */
export function closestCommand(word: string, commands: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const command of commands) {
    const distance = editDistance(word.toLowerCase(), command);
    const allowed = Math.min(2, Math.floor(command.length / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = command;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance with adjacent transpositions counted as one edit (`clolapse`). */
function editDistance(a: string, b: string): number {
  const width = b.length + 1;
  // Row i of the table is d[i * width ... i * width + b.length].
  const d = new Int32Array((a.length + 1) * width);
  const at = (i: number, j: number): number => d[i * width + j] as number;
  for (let i = 0; i <= a.length; i++) d[i * width] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * width + j] = v;
    }
  }
  return at(a.length, b.length);
}
