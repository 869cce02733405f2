// The browser programs (the SVG viewer, the web page script) as the build turns them into script text: the generated
// modules the server imports are what scripts/build-browser.js writes from the sources now, `npm run typecheck`
// checks each program with its own tsconfig, and a type error in browser code fails that check — shown on a copy of
// each program with errors added (DOM types, and for the viewer the ES5 library).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_SCRIPT = join(ROOT, 'scripts/build-browser.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

interface BrowserProgram {
  tsconfig: string;
  entry: string;
  output: string;
  constant: string;
}

// A variable specifier: the build script is plain JavaScript, outside the type-checked program.
const { BROWSER_PROGRAMS } = (await import(pathToFileURL(BUILD_SCRIPT).href)) as { BROWSER_PROGRAMS: BrowserProgram[] };

/** Code added to a copy of each program, and the TypeScript error codes it must cause, one each. */
const INJECTED: Record<string, { code: string; errors: string[] }> = {
  'viewer.ts': {
    code:
      "document.getElementById('frames')?.zoomInto(2);\n" +
      // ES2015: the ES5 library (any SVG viewer's engine) has no startsWith.
      "export const probe = 'java'.startsWith('j');\n",
    errors: ['TS2339', 'TS2550'],
  },
  'page.ts': {
    code: "export const probe: boolean = document.createElement('input').value;\n",
    errors: ['TS2322'],
  },
};

t.test('the generated modules are up to date with the browser sources', async (t) => {
  const run = spawnSync(process.execPath, [BUILD_SCRIPT, '--check'], { cwd: ROOT, encoding: 'utf8' });
  t.equal(run.status, 0, `build-browser --check: ${run.stderr}`);
  for (const p of BROWSER_PROGRAMS) {
    const text = readFileSync(join(ROOT, p.output), 'utf8');
    t.match(text, `from ${basename(dirname(p.entry))}/${basename(p.entry)}`, `${p.output} names its source`);
    t.match(text, `export const ${p.constant} =`, `${p.output} exports ${p.constant}`);
  }
});

// `npm test` builds before tap, so the files on disk are fresh there; in CI (a clean clone) the commit must hold the
// same, for what reads them without a build: `npm run typecheck` and the agent image (Dockerfile.agent runs tsc only).
t.test('in CI, the commit holds the generated modules the build writes', async (t) => {
  if (process.env.CI !== 'true') {
    t.plan(0, 'CI only: a working tree may be ahead of its commit');
    return;
  }
  for (const p of BROWSER_PROGRAMS) {
    const committed = spawnSync('git', ['show', `HEAD:${p.output}`], { cwd: ROOT, encoding: 'utf8' });
    t.equal(committed.status, 0, `${p.output} is committed: ${committed.stderr}`);
    t.ok(
      committed.stdout === readFileSync(join(ROOT, p.output), 'utf8'),
      `${p.output}: the committed text is what npm run build writes (commit it after building)`,
    );
  }
});

t.test('npm run typecheck checks every browser program with its own tsconfig', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const steps = (pkg.scripts.typecheck ?? '').split('&&').map((s) => s.trim());
  t.ok(steps.includes('tsc -p tsconfig.json --noEmit'), 'the main program');
  for (const p of BROWSER_PROGRAMS) {
    t.ok(
      steps.includes(`tsc -p ${dirname(p.tsconfig)} --noEmit`),
      `${p.tsconfig} is checked: ${pkg.scripts.typecheck}`,
    );
  }
  t.match(pkg.scripts.build ?? '', /^node scripts\/build-browser\.js && /, 'the build compiles them first');
});

for (const p of BROWSER_PROGRAMS) {
  const name = basename(p.entry);
  t.test(`a type error in ${name} fails its type check`, { timeout: 180_000 }, async (t) => {
    const injected = INJECTED[name];
    if (!injected) throw new Error(`no injected error for ${name}: add one to INJECTED`);
    const dir = mkdtempSync(join(tmpdir(), 'podflame-browser-typecheck-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // The copy imports what the original imports, by absolute path.
    const source = readFileSync(join(ROOT, p.entry), 'utf8').replace(
      /from '(\.\.?\/[^']+)'/g,
      (_m, spec: string) => `from '${resolve(ROOT, dirname(p.entry), spec)}'`,
    );
    writeFileSync(join(dir, name), `${source}\n${injected.code}`);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, p.tsconfig),
        compilerOptions: { rootDir: '/' },
        include: ['*.ts'],
        exclude: [],
      }),
    );
    const run = spawnSync(process.execPath, [TSC, '-p', dir, '--noEmit', '--pretty', 'false'], { encoding: 'utf8' });
    t.not(run.status, 0, 'tsc fails');
    const errors = run.stdout.split('\n').filter((l) => / error TS\d+:/.test(l));
    const firstInjectedLine = source.split('\n').length + 1;
    t.same(
      errors.map((l) => / error (TS\d+):/.exec(l)?.[1]).sort(),
      [...injected.errors].sort(),
      `exactly the injected errors:\n${run.stdout}`,
    );
    for (const line of errors) {
      const at = /\.ts\((\d+),\d+\)/.exec(line);
      t.ok(at && Number(at[1]) >= firstInjectedLine, `on an injected line: ${line}`);
    }
  });
}

// The web page takes its number formats from shared/format-numbers.ts, the graphs' own: the build inlines that
// module ahead of the page's code, in the page's one scope, and leaves no import or export behind.
t.test('the page script carries shared/format-numbers.ts, inlined once', async (t) => {
  const { compileBrowserProgram } = (await import(pathToFileURL(BUILD_SCRIPT).href)) as {
    compileBrowserProgram: (p: BrowserProgram) => string;
  };
  const page = BROWSER_PROGRAMS.find((p) => p.entry.endsWith('/page.ts')) as BrowserProgram;
  const script = compileBrowserProgram(page);
  for (const name of ['formatBytes', 'formatDuration', 'formatCount']) {
    t.equal(script.split(`function ${name}(`).length - 1, 1, `${name} is defined once`);
  }
  t.notMatch(script, /^\s*(?:import|export)\b/m, 'no module syntax left');
  t.ok(script.indexOf('function formatBytes(') < script.indexOf('function weight('), 'ahead of the page code');
  // Run the script's formatter as the browser would: the same words as the graphs' subtitles.
  const { describeTotal } = await import('../../shared/profile-events.js');
  const body = script.slice(script.indexOf('const BYTE_UNITS'), script.indexOf('function formatCount('));
  const formatBytes = new Function(`${body}; return formatBytes;`)() as (n: number) => string;
  t.equal(`${formatBytes(1_200_000_000)} allocated`, describeTotal('alloc', 1_200_000_000));
});
