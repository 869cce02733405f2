/**
 * Kubernetes label selectors, parsed and matched as the API server does for `?labelSelector=`: used where no API
 * server can answer (the agent's schedules in local mode, and stored profiles whose pods are gone).
 */
import { PodflameError } from './errors.js';

export type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

export interface LabelSelector {
  /** The text as given, for messages. */
  text: string;
  requirements: Requirement[];
}

// A label key: optional DNS prefix and `/`, then a name of letters, digits, `-`, `_`, `.`.
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function invalid(text: string, why: string): PodflameError {
  return new PodflameError(
    'INVALID_REQUEST',
    `label selector '${text}' is not valid: ${why} (expected e.g. app=shop,tier!=cache,env in (prod,staging))`,
    { details: { labelSelector: text } },
  );
}

/** Splits on commas outside parentheses: `app=shop,env in (a,b)` → [`app=shop`, `env in (a,b)`]. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((s) => s.trim());
}

function checkKey(text: string, key: string): string {
  if (!KEY.test(key) || key.length > 317) throw invalid(text, `'${key}' is not a label key`);
  return key;
}

function checkValue(text: string, value: string): string {
  if (!VALUE.test(value) || value.length > 63) throw invalid(text, `'${value}' is not a label value`);
  return value;
}

// e.g. `app=shop`, `tier!=cache`, `env in (prod, staging)`, `!canary`, `release`
function parseTerm(text: string, term: string): Requirement {
  if (term === '') throw invalid(text, 'an empty requirement');
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const values = (set[3] as string).split(',').map((v) => checkValue(text, v.trim()));
    return { op: set[2] as 'in' | 'notin', key: checkKey(text, set[1] as string), values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
  if (cmp) {
    const op = cmp[2] === '!=' ? 'neq' : 'eq';
    return { op, key: checkKey(text, cmp[1] as string), value: checkValue(text, (cmp[3] as string).trim()) };
  }
  if (term.startsWith('!')) return { op: 'notexists', key: checkKey(text, term.slice(1).trim()) };
  return { op: 'exists', key: checkKey(text, term) };
}

export function parseLabelSelector(text: string): LabelSelector {
  const trimmed = text.trim();
  if (trimmed === '') return { text, requirements: [] };
  return { text, requirements: splitTerms(trimmed).map((term) => parseTerm(text, term)) };
}

/** True when every requirement holds for `labels` (an empty selector matches everything). */
export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    switch (r.op) {
      case 'eq':
        return has && value === r.value;
      case 'neq':
        return !has || value !== r.value;
      case 'in':
        return has && r.values.includes(value as string);
      case 'notin':
        return !has || !r.values.includes(value as string);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}
