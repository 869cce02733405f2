/**
 * The lint rules that keep agent/ and shared/ free of import circles and of imports running back up agent/'s layers
 * (scripts/eslint.config.js): run by ESLint itself on small files written into a scratch tree shaped like the
 * repository, so that a rule that stops firing (a plugin update, a resolver that no longer finds `.ts` behind `.js`)
 * fails here rather than letting a circle back in.
 */
import t, { type Test } from 'tap';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function lint(files: Record<string, string>, t: Test): Promise<Map<string, string[]>> {
  const dir = t.testdir();
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const eslint = new ESLint({ cwd: dir, overrideConfigFile: join(ROOT, 'scripts/eslint.config.js') });
  const found = new Map<string, string[]>();
  for (const result of await eslint.lintFiles(Object.keys(files))) {
    const rel = result.filePath.slice(dir.length + 1);
    found.set(
      rel,
      result.messages.map((m) => `${m.ruleId}: ${m.message}`),
    );
  }
  return found;
}

t.test('two files of shared/ that import each other fail: import-x/no-cycle', async (t) => {
  const found = await lint(
    {
      'shared/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
      'shared/b.ts': "import { a } from './a.js';\nexport const b = (): number => a() - 1;\n",
    },
    t,
  );
  t.match(found.get('shared/a.ts'), [/^import-x\/no-cycle: Dependency cycle detected/]);
  t.match(found.get('shared/b.ts'), [/^import-x\/no-cycle: Dependency cycle detected/]);
});

t.test('a circle through three files of agent/ fails too', async (t) => {
  const found = await lint(
    {
      'agent/server/a.ts': "import { b } from './b.js';\nexport const a = (): number => b();\n",
      'agent/server/b.ts': "import { c } from './c.js';\nexport const b = (): number => c();\n",
      'agent/server/c.ts': "import { a } from './a.js';\nexport const c = (): number => a();\n",
    },
    t,
  );
  for (const file of ['a', 'b', 'c']) t.match(found.get(`agent/server/${file}.ts`), [/^import-x\/no-cycle/], file);
});

t.test("an import running back up agent/'s layers fails, even a type-only one; down is fine", async (t) => {
  const found = await lint(
    {
      'agent/runtime/engine.ts': "import type { App } from '../server/app.js';\nexport type Engine = App;\n",
      'agent/pods/index.ts': "import { settings } from '../config.js';\nexport const pods = settings;\n",
      'agent/config.ts': 'export const settings = 1;\n',
      'agent/server/app.ts':
        "import type { Engine } from '../runtime/engine.js';\nexport type App = { engine?: Engine };\n",
      'shared/pipeline.ts': "import { x } from '../agent/server/x.js';\nexport const y = x;\n",
      'agent/server/x.ts': 'export const x = 1;\n',
    },
    t,
  );
  t.match(found.get('agent/runtime/engine.ts'), [/no-restricted-imports: .*agent\/runtime\/ may import only no other/]);
  t.match(found.get('agent/pods/index.ts'), [/no-restricted-imports: .*the assembly .* never the other way round/]);
  t.match(found.get('shared/pipeline.ts'), [/no-restricted-imports: .*shared\/ is used by agent\/ and client\//]);
  t.same(found.get('agent/server/app.ts'), [], 'server/ may import runtime/');
});
