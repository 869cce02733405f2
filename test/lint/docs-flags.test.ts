// docs/agent-api.md's table of the agent's flags against their one definition, AGENT_OPTIONS of agent/config.ts: the
// table between the markers must be exactly what `npm run docs` writes from the code today, so a flag added, renamed,
// given another default or another description without `npm run docs` fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AGENT_OPTIONS, agentHelpText } from '../../agent/config.js';
import {
  AGENT_FLAGS_END,
  AGENT_FLAGS_START,
  agentFlagsTable,
  withAgentFlagsTable,
} from '../../scripts/docs/agent-flags.js';

const AGENT_API = join(import.meta.dirname, '../../docs/agent-api.md');
const doc = readFileSync(AGENT_API, 'utf8');

/** The lines between the markers. */
function tableInDoc(markdown: string): string[] {
  const start = markdown.indexOf(AGENT_FLAGS_START) + AGENT_FLAGS_START.length;
  return markdown.slice(start, markdown.indexOf(AGENT_FLAGS_END)).trim().split('\n');
}

t.test('docs/agent-api.md holds the table the code makes (else: npm run docs)', async (t) => {
  const inDoc = tableInDoc(doc);
  const fromCode = agentFlagsTable().split('\n');
  // Row by row first, so that a failure names the flag.
  for (const [i, row] of fromCode.entries())
    t.equal(inDoc[i], row, `row ${i + 1} (${/`--[a-z-]+/.exec(row)?.[0] ?? 'header'})`);
  t.equal(inDoc.length, fromCode.length, 'no row more');
  t.equal(withAgentFlagsTable(doc), doc, 'the file is what npm run docs writes');
});

t.test('every flag of --help has its row, in the same order', async (t) => {
  const helpFlags = [...agentHelpText('node-a').matchAll(/^ {2}--([a-z-]+) /gm)].map((m) => m[1]);
  const rowFlags = tableInDoc(doc)
    .slice(2)
    .map((row) => /^\| `--([a-z-]+)/.exec(row)?.[1]);
  t.same(rowFlags, helpFlags);
  t.equal(rowFlags.length, AGENT_OPTIONS.length);
});

t.test('the markers are required once each', async (t) => {
  t.throws(() => withAgentFlagsTable('no markers'), /expected one/);
  t.throws(() => withAgentFlagsTable(`${AGENT_FLAGS_END}\n${AGENT_FLAGS_START}`), /expected one/);
  t.throws(() => withAgentFlagsTable(`${AGENT_FLAGS_START}${AGENT_FLAGS_START}${AGENT_FLAGS_END}`), /expected one/);
  t.equal(
    withAgentFlagsTable(`a\n${AGENT_FLAGS_START}\nold\n${AGENT_FLAGS_END}\nb`, 'new'),
    `a\n${AGENT_FLAGS_START}\nnew\n${AGENT_FLAGS_END}\nb`,
  );
});

t.test('a cell cannot break the table', async (t) => {
  const [spec] = AGENT_OPTIONS;
  const table = agentFlagsTable([{ ...spec!, reference: 'a | b\nc' }]);
  t.match(table.split('\n')[2], /a \\\| b c/);
  t.equal(table.split('\n').length, 3);
});
