import type { RegisterCommand } from '../io.js';
import { registerProfile } from './profile.js';
import { registerAgents } from './agents.js';
import { registerCollapse } from './collapse.js';
import { registerDiffFolded } from './diff-folded.js';
import { registerRender } from './render.js';
import { registerConvert } from './convert.js';
import { registerHistory } from './history.js';
import { registerFlamegraph } from './flamegraph.js';
import { registerDiff } from './diff.js';
import { registerInstall } from './install.js';
import { registerUninstall } from './uninstall.js';

/** Every CLI subcommand, in the order `podflame --help` lists them. Each lives in its own file. */
export const COMMANDS: readonly RegisterCommand[] = [
  registerProfile,
  registerAgents,
  registerCollapse,
  registerDiffFolded,
  registerRender,
  registerConvert,
  registerHistory,
  registerFlamegraph,
  registerDiff,
  registerInstall,
  registerUninstall,
];
