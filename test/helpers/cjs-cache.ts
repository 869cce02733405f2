/**
 * Which CommonJS files a Node process loaded: `PRINT_CJS_CACHE`, given to `node --import`, prints Node's require cache
 * (CommonJS packages land there even when imported from ESM) on stderr at exit; `cjsFilesFrom` reads it back.
 */
export const PRINT_CJS_CACHE =
  'data:text/javascript,' +
  encodeURIComponent(
    "import { createRequire } from 'node:module';" +
      "const cache = createRequire('/').cache;" +
      "process.on('exit', () => process.stderr.write('CJS ' + JSON.stringify(Object.keys(cache)) + '\\n'));",
  );

/** The files listed by PRINT_CJS_CACHE in a process's stderr; throws when the list is not there. */
export function cjsFilesFrom(stderr: string, exitCode: number | null): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('CJS '));
  if (line === undefined) throw new Error(`no module list (exit ${exitCode}): ${stderr}`);
  return JSON.parse(line.slice(4)) as string[];
}
