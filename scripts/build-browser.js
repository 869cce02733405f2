// @ts-check
// `npm run build`, first step: the browser programs — the SVG viewer (shared/render/viewer/) and the agent's web page
// script (agent/server/web/browser/) — compiled by the TypeScript compiler with their own tsconfig.json (DOM library,
// their own target), each from one module (and the import-free modules it takes values from, inlined ahead of it, as
// the page does with shared/format-numbers.ts) to one script, and written as a generated TypeScript module that exports
// the script text as a string constant; the renderer and the agent import those. Plain JavaScript, so that it runs
// before tsc; the generated modules are committed (the agent image and `npm run typecheck` need them before any build)
// and `--check` fails when they differ from what this would write (test/browser/browser-build.test.ts).
//   node scripts/build-browser.js [--check]
// No bundler: a program's imports are types, or values of modules that import no values themselves, so the compiler's
// output, those modules' first, is the script.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @typedef {object} BrowserProgram
 * @property {string} tsconfig the program's tsconfig.json, relative to the repository root
 * @property {string} entry its one module
 * @property {string} output the generated module
 * @property {string} constant the name of the exported string
 * @property {'none' | 'iife'} wrap `iife`: the script in `(function () { ... })();`, so that its names stay local
 * @property {string[]} placeholders text the server replaces, each required exactly once in the script
 */

/** @type {BrowserProgram[]} */
export const BROWSER_PROGRAMS = [
  {
    tsconfig: 'shared/render/viewer/tsconfig.json',
    entry: 'shared/render/viewer/viewer.ts',
    output: 'shared/render/viewer-source.generated.ts',
    constant: 'VIEWER_SOURCE',
    // The document's onload="init(evt)" calls the script's global init().
    wrap: 'none',
    placeholders: ['__CONFIG__'],
  },
  {
    tsconfig: 'agent/server/web/browser/tsconfig.json',
    entry: 'agent/server/web/browser/page.ts',
    output: 'agent/server/web/page-script.generated.ts',
    constant: 'WEB_PAGE_SCRIPT',
    wrap: 'iife',
    placeholders: [],
  },
];

/** @param {readonly ts.Diagnostic[]} diagnostics */
function format(diagnostics) {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => '\n',
  });
}

/**
 * The modules whose values `entry` imports (relative specifiers, value imports only: type imports vanish when
 * compiled). Each must import no values itself, so that inlining them ahead of the entry, in one scope, is exactly
 * what a bundler would produce; a deeper graph is an error rather than a bundler written here.
 * @param {ts.Program} program
 * @param {ts.SourceFile} entry
 * @returns {ts.SourceFile[]}
 */
function localModules(program, entry) {
  /** @param {ts.SourceFile} file */
  const valueImports = (file) =>
    file.statements.flatMap((s) => {
      if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier)) return [];
      const clause = s.importClause;
      if (!clause || clause.isTypeOnly) return [];
      const named = clause.namedBindings;
      const values =
        clause.name !== undefined ||
        (named !== undefined && (ts.isNamespaceImport(named) || named.elements.some((element) => !element.isTypeOnly)));
      if (!values) return [];
      const target = resolve(dirname(file.fileName), s.moduleSpecifier.text.replace(/\.js$/, '.ts'));
      const module = program.getSourceFile(target);
      if (!module) throw new Error(`${relative(ROOT, file.fileName)}: cannot find ${s.moduleSpecifier.text}`);
      return [module];
    });
  const modules = valueImports(entry);
  for (const m of modules) {
    if (valueImports(m).length > 0) {
      throw new Error(`${relative(ROOT, m.fileName)}: a module a browser program inlines imports no values itself`);
    }
  }
  return [...new Set(modules)];
}

/**
 * A compiled module as part of the one script: its import lines (type imports only are left, and those the compiler
 * removed) and the `export` keyword of its declarations dropped.
 * @param {string} js
 */
function stripModuleSyntax(js) {
  return js.replace(/^import\s[^;]*;\n/gm, '').replace(/^export (?=(?:async )?function |const |let |class )/gm, '');
}

/**
 * The script text of one program: type-checked (any diagnostic is an error), compiled, `export {};` (what the
 * compiler writes for a module with type imports only) removed, wrapped as asked.
 * @param {BrowserProgram} p
 * @returns {string}
 */
export function compileBrowserProgram(p) {
  const configPath = join(ROOT, p.tsconfig);
  const config = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(format([d]));
      },
    },
  );
  if (!config) throw new Error(`${p.tsconfig}: cannot read it`);
  if (config.errors.length > 0) throw new Error(format(config.errors));
  const program = ts.createProgram({ rootNames: config.fileNames, options: { ...config.options, noEmit: false } });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) throw new Error(`${p.tsconfig}: type errors\n${format(diagnostics)}`);
  const entry = program.getSourceFile(join(ROOT, p.entry));
  if (!entry) throw new Error(`${p.entry}: not part of ${p.tsconfig}`);
  /** @param {ts.SourceFile} file */
  const emitOne = (file) => {
    /** @type {string | undefined} */
    let js;
    const result = program.emit(file, (fileName, text) => {
      if (fileName.endsWith('.js')) js = text;
    });
    if (result.emitSkipped || js === undefined)
      throw new Error(`${relative(ROOT, file.fileName)}: nothing emitted\n${format(result.diagnostics)}`);
    return js.replace(/^export \{\};\n/m, '');
  };
  // Modules first, in the order their importers need them, then the entry: one scope, names unique across them.
  const parts = localModules(program, entry).map((file) => stripModuleSyntax(emitOne(file)));
  let script = parts.join('') + (parts.length > 0 ? stripModuleSyntax(emitOne(entry)) : emitOne(entry));
  const moduleSyntax = /^(?:import|export)\b.*$/m.exec(script);
  if (moduleSyntax) {
    throw new Error(
      `${p.entry}: the script would keep "${moduleSyntax[0]}"; browser programs import types, or values from ` +
        'modules of no imports of their own',
    );
  }
  for (const placeholder of p.placeholders) {
    const count = script.split(placeholder).length - 1;
    if (count !== 1) throw new Error(`${p.entry}: ${placeholder} appears ${count} times in the script, expected once`);
  }
  if (p.wrap === 'iife') script = `(function () {\n${script}})();\n`;
  return script;
}

/**
 * The generated module's text, formatted as the repository's prettier settings say.
 * @param {BrowserProgram} p
 * @param {string} script
 */
async function generatedModule(p, script) {
  const source =
    `// Generated by scripts/build-browser.js from ${relative(dirname(p.output), p.entry)}` +
    ' (npm run build): edit that, not this.\n' +
    `export const ${p.constant} = ${JSON.stringify(script)};\n`;
  const file = join(ROOT, p.output);
  return prettier.format(source, { ...(await prettier.resolveConfig(file)), filepath: file });
}

async function main() {
  const check = process.argv.includes('--check');
  const stale = [];
  for (const p of BROWSER_PROGRAMS) {
    const text = await generatedModule(p, compileBrowserProgram(p));
    const file = join(ROOT, p.output);
    /** @type {string | null} */
    let current = null;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    if (current === text) continue;
    if (check) stale.push(p.output);
    else writeFileSync(file, text);
  }
  if (stale.length > 0) {
    console.error(`build-browser: out of date (run npm run build): ${stale.join(', ')}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`build-browser: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
