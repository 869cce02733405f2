/** Every export format of a folded profile, behind one function for the agent's and the client's `--format`. */
import { serializeFolded, type EventCounts, type FoldedStacks } from '../folded.js';
import { toCallTree } from './call-tree.js';
import { toPprof, type PprofOptions } from './pprof.js';
import { toSpeedscope, type SpeedscopeOptions } from './speedscope.js';

export { toCallTree, type CallTreeNode } from './call-tree.js';
export { buildPprofProfile, toPprof, DEFAULT_PPROF_OPTIONS, type PprofOptions } from './pprof.js';
export {
  toSpeedscope,
  DEFAULT_SPEEDSCOPE_OPTIONS,
  SPEEDSCOPE_SCHEMA_URL,
  type SpeedscopeFile,
  type SpeedscopeOptions,
} from './speedscope.js';

/** Formats that need no renderer (the SVG comes from shared/render). */
export const EXPORT_FORMATS = ['folded', 'pprof', 'speedscope', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportedProfile {
  body: Buffer;
  contentType: string;
  /** File name extension, for `-o` defaults and Content-Disposition. */
  extension: string;
}

export type ExportOptions = Partial<PprofOptions> & Partial<SpeedscopeOptions>;

/**
 * `eventCounts` (a lock profile's contentions per stack) go into pprof's `contentions/count`; folded, speedscope and
 * the JSON tree ignore them: their one number per frame is the weight.
 */
export function exportProfile(
  stacks: FoldedStacks,
  format: ExportFormat,
  options: ExportOptions = {},
  eventCounts?: EventCounts,
): ExportedProfile {
  switch (format) {
    case 'folded':
      return {
        body: Buffer.from(serializeFolded(stacks)),
        contentType: 'text/plain; charset=utf-8',
        extension: 'folded',
      };
    case 'pprof':
      return {
        body: toPprof(stacks, options, eventCounts),
        contentType: 'application/octet-stream',
        extension: 'pb.gz',
      };
    case 'speedscope':
      return {
        body: Buffer.from(JSON.stringify(toSpeedscope(stacks, options))),
        contentType: 'application/json',
        extension: 'speedscope.json',
      };
    case 'json':
      return {
        body: Buffer.from(JSON.stringify(toCallTree(stacks))),
        contentType: 'application/json',
        extension: 'json',
      };
  }
}
