/**
 * The table of the agent's flags in docs/agent-api.md, written from their one definition, `AGENT_OPTIONS` of
 * agent/config.ts (the same entries `podflame-agent --help` prints), between two marker comments. `npm run docs`
 * rewrites it; test/lint/docs-flags.test.ts fails when the file and the code differ.
 */
import { AGENT_OPTIONS, defaultText, type OptionSpec } from '../../agent/config.js';

export const AGENT_FLAGS_START = '<!-- agent-flags:start -->';
export const AGENT_FLAGS_END = '<!-- agent-flags:end -->';

// What the table says where --help prints this machine's host name.
const NODE_NAME_DEFAULT = 'the host name';

// A table cell: a `|` would end the cell, a line break the row.
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function row(spec: OptionSpec): string {
  const flag = `\`--${spec.flag} ${spec.placeholder}\``;
  const env = spec.env.map((name) => `\`${name}\``).join(', ');
  const meaning = spec.reference ?? spec.description;
  const fallback = defaultText(spec, NODE_NAME_DEFAULT);
  // A value as one types it in code type; a description of one (`the host name`) as text.
  const shown = /\s/.test(fallback) ? fallback : `\`${fallback}\``;
  return `| ${cell(flag)} | ${cell(env)} | ${cell(meaning)} | ${cell(shown)} |`;
}

/** The markdown table of every agent option, in `--help`'s order. */
export function agentFlagsTable(options: readonly OptionSpec[] = AGENT_OPTIONS): string {
  return ['| flag | environment | meaning | default |', '| --- | --- | --- | --- |', ...options.map(row)].join('\n');
}

/** `markdown` with the text between the markers replaced by `table`; throws when the markers are not there once. */
export function withAgentFlagsTable(markdown: string, table: string = agentFlagsTable()): string {
  const start = markdown.indexOf(AGENT_FLAGS_START);
  const end = markdown.indexOf(AGENT_FLAGS_END);
  if (
    start < 0 ||
    end < start ||
    markdown.indexOf(AGENT_FLAGS_START, start + 1) >= 0 ||
    markdown.indexOf(AGENT_FLAGS_END, end + 1) >= 0
  ) {
    throw new Error(`expected one ${AGENT_FLAGS_START} followed by one ${AGENT_FLAGS_END}`);
  }
  return `${markdown.slice(0, start + AGENT_FLAGS_START.length)}\n${table}\n${markdown.slice(end)}`;
}
