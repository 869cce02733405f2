// @ts-check
// `npm run build`, last step: makes the files package.json's "bin" names executable (0755). tsc writes them 0644,
// and kubectl runs a plugin (`kubectl podflame`: dist/client/cli/main.js as kubectl-podflame on PATH, e.g. after
// `npm link`) only when it is executable; `npm install -g` sets the bit itself, a checkout's build did not.
// Each must start with a node shebang, `#!/usr/bin/env node` or `#!/usr/bin/env -S node FLAGS` (podflame-agent's: see
// agent/node-flags.ts), or executing it would run it as a shell script.
//   node scripts/chmod-bins.js
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const NODE_SHEBANG = /^#!\/usr\/bin\/env (?:node|-S node(?: --[a-z0-9-]+(?:=[^\s]+)?)+)\n/;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = /** @type {{ bin: Record<string, string> }} */ (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
);

for (const file of new Set(Object.values(pkg.bin))) {
  const path = join(ROOT, file);
  if (!NODE_SHEBANG.test(readFileSync(path, 'utf8'))) {
    process.stderr.write(
      `chmod-bins: ${file} does not start with #!/usr/bin/env node (or -S node FLAGS); add it to its source\n`,
    );
    process.exit(1);
  }
  chmodSync(path, 0o755);
}
