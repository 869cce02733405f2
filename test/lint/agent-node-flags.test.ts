// The agent's Node flags (agent/node-flags.ts) are on every command line that starts it: the image's ENTRYPOINT,
// `podflame-agent`'s shebang, the demo's, and the bench's (which imports the constant). A flag changed in one place only
// would make the bench measure an agent nobody runs. (test/cli/bins.test.ts runs podflame-agent through its shebang.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';

const ROOT = join(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

t.test('the image runs the agent with exactly these flags', async (t) => {
  const line = read('Dockerfile.agent')
    .split('\n')
    .find((l) => l.startsWith('ENTRYPOINT '));
  t.ok(line, 'Dockerfile.agent has an ENTRYPOINT');
  t.same(JSON.parse((line as string).slice('ENTRYPOINT '.length)), [
    'node',
    ...AGENT_NODE_FLAGS,
    '/app/dist/agent/main.js',
  ]);
});

t.test("podflame-agent's shebang passes them to node", async (t) => {
  t.equal(read('agent/main.ts').split('\n')[0], `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(' ')}`);
});

t.test('the demo starts the agent with them', async (t) => {
  const starts = read('scripts/demo.sh')
    .split('\n')
    .filter((l) => l.includes('dist/agent/main.js --listen'));
  t.equal(starts.length, 1, 'one start of the agent');
  t.ok(starts[0]?.startsWith(`node ${AGENT_NODE_FLAGS.join(' ')} dist/agent/main.js `), String(starts[0]));
});
