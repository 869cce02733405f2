import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);
let loaded: typeof Undici | undefined;

/**
 * undici costs 0.1–0.2 s to load, and every `podflame` invocation would pay it at start-up because the CLI registers
 * all commands up front. Loading it on first use keeps `collapse` and `render` (which never make a request) fast.
 */
export function undici(): typeof Undici {
  loaded ??= require('undici') as typeof Undici;
  return loaded;
}
