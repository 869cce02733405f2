// The commands of README.md and docs/*.md, taken from their ```sh and ```bash blocks (every line that starts with
// podflame, podflame-agent, npx podflame, npm, kubectl or node), against the built CLI and agent: those that can run
// here, without a cluster, are run as written (the offline commands in a scratch folder holding real captures under
// the names the examples use) and must exit 0; the others have each flag checked against what the command accepts
// (its --help, or the agent's own option parser, which also checks the values). docs/cli.md's flag tables and the
// commands' --help agree both ways. And every relative link of these files resolves: the file exists, and an anchor
// names one of its headings.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { parseAgentConfig } from '../../agent/config.js';
import { DIST_CLI, requireBuild } from '../helpers/built.js';

requireBuild();
const REPO = join(import.meta.dirname, '../..');
const DOC_FILES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

// podflame's subcommands that read files or stdin and need nothing else: run as written.
const OFFLINE_COMMANDS = new Set(['collapse', 'render', 'convert', 'diff-folded']);

/** The input files the offline examples name, each a real capture from test/fixtures. */
const EXAMPLE_INPUTS: Readonly<Record<string, string>> = {
  'perf.txt': 'test/fixtures/perf/java-early-map.txt',
  'shop.folded': 'test/fixtures/folded/java-slow.folded',
  'profile.folded': 'test/fixtures/folded/java-slow.folded',
  'before.folded': 'test/fixtures/folded/java-slow.folded',
  'after.folded': 'test/fixtures/folded/java-fast.folded',
};

interface DocCommand {
  file: string;
  line: number;
  text: string;
}

/** Every command line of a ```sh/```bash block that starts with a command this test knows; `\` continuations joined. */
function docCommands(file: string): DocCommand[] {
  const out: DocCommand[] = [];
  let fence: string | undefined;
  let pending: { line: number; text: string } | undefined;
  readFileSync(join(REPO, file), 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const open = /^\s*```(\w*)/.exec(raw);
      if (open) {
        fence = fence === undefined ? (open[1] as string) : undefined;
        return;
      }
      if (fence !== 'sh' && fence !== 'bash') return;
      const text = pending ? `${pending.text} ${raw.trim()}` : raw.trim();
      const line = pending?.line ?? i + 1;
      if (text.endsWith('\\')) {
        pending = { line, text: text.slice(0, -1).trim() };
        return;
      }
      pending = undefined;
      if (/^(podflame|podflame-agent|npx podflame|npm|kubectl|node)(\s|$)/.test(text)) out.push({ file, line, text });
    });
  return out;
}

/** Shell words of one command line, split into the commands of its pipeline; `#` comments and redirections dropped. */
function pipeline(text: string): string[][] {
  const commands: string[][] = [[]];
  let word: string | undefined;
  let quote: string | undefined;
  let redirect = false;
  const end = () => {
    if (word === undefined) return;
    if (redirect) redirect = false;
    else (commands.at(-1) as string[]).push(word.replaceAll('$PWD', REPO));
    word = undefined;
  };
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) end();
    else if (ch === '#' && word === undefined) break;
    else if (ch === '|' || ch === ';' || ch === '&') {
      end();
      if ((commands.at(-1) as string[]).length > 0) commands.push([]);
    } else if (ch === '>' || ch === '<') {
      end();
      redirect = true;
    } else word = (word ?? '') + ch;
  }
  end();
  return commands.filter((c) => c.length > 0);
}

/** The flags of a command's words, as named (`--cert=x` → `--cert`), up to a lone `--`. */
function flagsOf(words: readonly string[]): string[] {
  const flags: string[] = [];
  for (const w of words) {
    if (w === '--') break;
    if (/^--?[A-Za-z]/.test(w)) flags.push(w.split('=')[0] as string);
  }
  return flags;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

const helpCache = new Map<string, Promise<string>>();
/** What `words` (a command asked for its help) prints, run once. */
function helpOf(words: readonly string[]): Promise<string> {
  const key = words.join(' ');
  let help = helpCache.get(key);
  if (!help) {
    const [cmd, ...rest] = words as [string, ...string[]];
    help = run(cmd, rest, REPO).then(({ code, out }) => {
      if (code !== 0) throw new Error(`${key} exited ${code}: ${out}`);
      return out;
    });
    helpCache.set(key, help);
  }
  return help;
}

function listsFlag(help: string, flag: string): boolean {
  const escaped = flag.replace(/[-]/g, '\\-');
  return new RegExp(`(^|[\\s,\\[(])${escaped}([\\s,=<\\[\\])]|$)`, 'm').test(help);
}

const scratch = mkdtempSync(join(tmpdir(), 'podflame-readme-commands-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
for (const [name, fixture] of Object.entries(EXAMPLE_INPUTS)) copyFileSync(join(REPO, fixture), join(scratch, name));
writeFileSync(join(scratch, 'perf.txt.gz'), gzipSync(readFileSync(join(REPO, EXAMPLE_INPUTS['perf.txt'] as string))));

// podflame as a shell function, so that a pipeline of the docs runs as written.
const SHELL_PRELUDE = `set -eo pipefail; podflame() { ${JSON.stringify(process.execPath)} ${JSON.stringify(DIST_CLI)} "$@"; }\n`;

const PACKAGE_SCRIPTS = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;
const NPM_OWN_COMMANDS = new Set(['ci', 'install', 'link', 'unlink']);

/** podflame CMD ... (without the word podflame): run it when it can run here, else check its flags. */
async function checkPodflame(args: readonly string[], shellLine: string | undefined): Promise<Check[]> {
  const sub = args.find((a) => !a.startsWith('-'));
  const offline =
    sub === undefined || OFFLINE_COMMANDS.has(sub) || args.includes('--help') || args.includes('--version');
  if (offline && shellLine !== undefined) {
    const { code, out } = await run('bash', ['-c', SHELL_PRELUDE + shellLine], scratch);
    return [{ ok: code === 0, message: `runs here and exits 0${code === 0 ? '' : `, not ${code}: ${out}`}` }];
  }
  const help = await helpOf([process.execPath, DIST_CLI, ...(sub === undefined ? [] : [sub]), '--help']);
  // helpOf throws (and the command's test fails) when the command does not exist.
  const exists = { ok: true, message: `podflame ${sub ?? ''} --help exits 0` };
  return [
    exists,
    ...flagsOf(args).map((flag) => ({ ok: listsFlag(help, flag), message: `podflame ${sub ?? ''} takes ${flag}` })),
  ];
}

function checkAgent(args: readonly string[]): Check[] {
  let error = '';
  try {
    parseAgentConfig({ argv: args, env: {}, hostname: 'node-a' });
  } catch (err) {
    error = `: ${err instanceof Error ? err.message : String(err)}`;
  }
  return [{ ok: error === '', message: `podflame-agent's option parser accepts them${error}` }];
}

async function checkKubectl(args: readonly string[]): Promise<Check[]> {
  // Global flags before the verb (`kubectl -n podflame create ...`) are kubectl's own.
  const words = [...args];
  const globals: string[] = [];
  while (words[0]?.startsWith('-')) {
    globals.push(words.shift() as string);
    if (!(globals.at(-1) as string).includes('=')) words.shift();
  }
  const [verb, ...rest] = words;
  if (verb === 'podflame') return checkPodflame(rest, undefined);
  if (verb === 'apply' && flagsOf(rest).join() === '-k') {
    // Rendered as the API server would receive it, which needs no cluster.
    const dir = rest.find((w) => !w.startsWith('-')) as string;
    const { code, out } = await run('kubectl', ['kustomize', dir], REPO);
    return [{ ok: code === 0, message: `kubectl kustomize ${dir} builds${code === 0 ? '' : `: ${out}`}` }];
  }
  const subcommand = [verb as string, ...rest.filter((w) => !w.startsWith('-')).slice(0, 2)];
  const help = (await helpOf(['kubectl', ...subcommand, '--help'])) + (await helpOf(['kubectl', 'options']));
  const exists = { ok: true, message: `kubectl ${subcommand.join(' ')} --help exits 0` };
  return [
    exists,
    ...[...flagsOf(globals), ...flagsOf(rest)].map((flag) => ({
      ok: listsFlag(help, flag),
      message: `kubectl ${subcommand.join(' ')} takes ${flag}`,
    })),
  ];
}

function checkNpm(args: readonly string[]): Check[] {
  const [cmd, script] = args;
  if (cmd === 'run')
    return [{ ok: Object.hasOwn(PACKAGE_SCRIPTS, script ?? ''), message: `package.json has script ${script}` }];
  if (cmd === 'test') return [{ ok: Object.hasOwn(PACKAGE_SCRIPTS, 'test'), message: 'package.json has script test' }];
  return [{ ok: NPM_OWN_COMMANDS.has(cmd ?? ''), message: `npm ${cmd} is one of npm's own commands` }];
}

const ENTRY_POINTS: Readonly<Record<string, string>> = {
  'dist/client/cli/main.js': 'podflame',
  'dist/agent/main.js': 'podflame-agent',
};

interface Check {
  ok: boolean;
  message: string;
}

/** Runs or checks one command of the docs. */
async function evaluate(c: DocCommand): Promise<Check[]> {
  if (c.text.startsWith('npx podflame')) {
    // Exactly as written, from the checkout: npx runs the package's own bin.
    const { code, out } = await run('bash', ['-c', c.text.replace(/\s+#.*$/, '')], REPO);
    return [
      { ok: code === 0, message: `runs from the checkout and exits 0${code === 0 ? '' : `, not ${code}: ${out}`}` },
    ];
  }
  const stages = pipeline(c.text);
  const [cmd, ...args] = stages[0] as [string, ...string[]];
  if (cmd === 'podflame') {
    const runnable = stages.every(
      (words) => words[0] === 'podflame' && (OFFLINE_COMMANDS.has(words[1] ?? '') || words.includes('--help')),
    );
    return checkPodflame(args, runnable ? c.text : undefined);
  }
  if (cmd === 'podflame-agent') return checkAgent(args);
  if (cmd === 'kubectl') return checkKubectl(args);
  if (cmd === 'npm') return checkNpm(args);
  // node ENTRY_POINT ...
  const program = ENTRY_POINTS[args[0] ?? ''];
  if (program === 'podflame') return checkPodflame(args.slice(1), undefined);
  if (program === 'podflame-agent') return checkAgent(args.slice(1));
  return [
    { ok: false, message: `${args[0]} is not one of the built entry points ${Object.keys(ENTRY_POINTS).join(', ')}` },
  ];
}

/** At most `limit` of `jobs` at once (the machine has 2 cores, shared), each result in the order given. */
function inPool<T>(jobs: readonly (() => Promise<T>)[], limit: number): Promise<T>[] {
  let next = 0;
  const results = jobs.map(() => {
    let settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };
    const promise = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
    return { promise, settle };
  });
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const r = results[i] as (typeof results)[number];
      await (jobs[i] as () => Promise<T>)().then(r.settle.resolve, r.settle.reject);
    }
  };
  for (let i = 0; i < Math.min(limit, jobs.length); i++) void worker();
  return results.map((r) => r.promise);
}

const commands = DOC_FILES.flatMap(docCommands);
const outcomes = inPool(
  commands.map((c) => () => evaluate(c)),
  3,
);

t.test('the docs hold commands to check', async (t) => {
  t.ok(
    commands.some((c) => c.file === 'README.md' && c.text.startsWith('npm run demo')),
    'README.md: npm run demo',
  );
  t.ok(
    commands.some((c) => c.file === 'README.md' && c.text.startsWith('npm test')),
    'README.md: npm test',
  );
  t.ok(
    commands.some((c) => c.text.startsWith('podflame collapse')),
    'a podflame collapse example to run',
  );
});

commands.forEach((c, i) => {
  t.test(`${c.file}:${c.line}: ${c.text.replace(/\s+#.*$/, '')}`, async (t) => {
    const checks = await (outcomes[i] as Promise<Check[]>);
    t.ok(checks.length > 0, 'something was checked');
    for (const check of checks) t.ok(check.ok, check.message);
  });
});

/** The option names a commander --help lists: `  -o, --output <file>  ...` → `-o`, `--output`. */
function optionsOfHelp(help: string): string[] {
  const names: string[] = [];
  for (const m of help.matchAll(/^ {2}(-[A-Za-z](?![\w-]))?(?:, )?(--[a-z][\w-]*)?/gm)) {
    if (m[1]) names.push(m[1]);
    if (m[2]) names.push(m[2]);
  }
  return names.filter((n) => n !== '-h' && n !== '--help');
}

t.test("docs/cli.md's flag tables and the commands' --help agree", async (t) => {
  const sections = new Map<string, string>(); // command → the text of its sections (profile has two)
  for (const section of readFileSync(join(REPO, 'docs/cli.md'), 'utf8').split('\n## ').slice(1)) {
    const command = /^podflame ([a-z-]+)/.exec(section)?.[1];
    if (command) sections.set(command, (sections.get(command) ?? '') + section);
  }
  t.ok(sections.size >= 6, 'sections of podflame profile, agents, collapse, render, convert, diff-folded');
  for (const [command, text] of sections) {
    const help = await helpOf([process.execPath, DIST_CLI, command, '--help']);
    const taken = new Set(optionsOfHelp(help));
    const inTables = text
      .split('\n')
      .filter((line) => /^\| [^-]/.test(line) && !line.startsWith('| flag'))
      .flatMap((line) =>
        [...(line.split(' | ')[0] as string).matchAll(/(?<![\w-])(--?[A-Za-z][\w-]*)/g)].map((m) => m[1]),
      );
    for (const flag of inTables)
      t.ok(taken.has(flag as string), `podflame ${command} takes ${flag}, as its table says`);
    for (const flag of taken)
      t.match(
        text,
        new RegExp(`(^|[\\s\`[,])${flag}([\\s\`,=\\]]|$)`, 'm'),
        `podflame ${command}: ${flag} is documented`,
      );
  }
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2, ... */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const m = inFence ? null : /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const slug = (m[1] as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** The relative links of a markdown file, outside code: `[text](target)`. */
function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (!/^[a-z]+:/.test(target)) links.push(target);
    }
  }
  return links;
}

t.test('every relative link of README.md and docs/*.md resolves, anchors included', async (t) => {
  for (const file of DOC_FILES) {
    for (const link of relativeLinks(readFileSync(join(REPO, file), 'utf8'))) {
      const [path, anchor] = link.split('#') as [string, string | undefined];
      const target = path === '' ? file : relative(REPO, join(REPO, dirname(file), path));
      if (!existsSync(join(REPO, target))) {
        t.fail(`${file}: ${link}: no file ${target}`);
        continue;
      }
      if (anchor === undefined) continue;
      const anchors = headingAnchors(readFileSync(join(REPO, target), 'utf8'));
      t.ok(anchors.has(anchor), `${file}: ${link}: ${target} has a heading #${anchor}`);
    }
  }
});
