/**
 * `npm run docs`: rewrites the generated parts of docs/ from their definitions in code (today the agent's flag
 * table of docs/agent-api.md). `--check` writes nothing and exits 1 when a file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withAgentFlagsTable } from './agent-flags.js';

// dist/scripts/docs/main.js → the project root.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const AGENT_API = join(ROOT, 'docs', 'agent-api.md');

const check = process.argv.includes('--check');
const current = readFileSync(AGENT_API, 'utf8');
const wanted = withAgentFlagsTable(current);
if (wanted === current) {
  console.log('docs/agent-api.md: the agent flag table is up to date');
} else if (check) {
  console.error('docs/agent-api.md: the agent flag table differs from agent/config.ts: run npm run docs');
  process.exitCode = 1;
} else {
  writeFileSync(AGENT_API, wanted);
  console.log('docs/agent-api.md: agent flag table rewritten from agent/config.ts');
}
