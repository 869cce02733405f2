/**
 * `-o FILE` of the commands that write a profile: checked before anything is asked of an agent (a wrong folder must
 * not cost a 30 s capture first), written once the result is there; stdout when there is no `-o` or it is `-`.
 */
import { constants } from 'node:fs';
import { access, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { CliIO } from './io.js';
import { PodflameError } from '../../shared/errors.js';
import { fileErrorReason } from '../../shared/file-error.js';

/** The file `-o` names, resolved against the working directory; undefined for stdout. */
function outputPath(output: string | undefined, io: CliIO): string | undefined {
  return output === undefined || output === '-' ? undefined : resolve(io.cwd, output);
}

function unwritable(path: string, reason: string, cause?: unknown): PodflameError {
  return new PodflameError(
    'FILE_UNWRITABLE',
    `cannot write ${path}: ${reason}; give -o a file in a folder you can write to`,
    {
      details: { path },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/**
 * Throws FILE_UNWRITABLE unless `-o` names a file that can be written: an existing file that is not a folder and may
 * be written, or a new name in an existing folder that may be written to. Nothing is created: a capture that fails
 * leaves no empty file behind.
 */
export async function checkOutputWritable(output: string | undefined, io: CliIO): Promise<void> {
  const path = outputPath(output, io);
  if (path === undefined) return;
  try {
    const existing = await stat(path);
    if (existing.isDirectory()) throw unwritable(path, 'it is a directory');
    await access(path, constants.W_OK);
    return;
  } catch (err) {
    if (err instanceof PodflameError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unwritable(path, fileErrorReason(err), err);
  }
  const folder = dirname(path);
  try {
    if (!(await stat(folder)).isDirectory()) throw unwritable(path, `${folder} is not a folder`);
    // Creating a file needs write and search permission on its folder.
    await access(folder, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof PodflameError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw unwritable(path, code === 'ENOENT' ? `no such folder ${folder}` : fileErrorReason(err), err);
  }
}

/** Writes to `-o FILE`, or to stdout; resolves once written. */
export async function writeOutput(body: string | Buffer, output: string | undefined, io: CliIO): Promise<void> {
  const path = outputPath(output, io);
  if (path !== undefined) {
    try {
      await writeFile(path, body);
    } catch (err) {
      throw unwritable(path, fileErrorReason(err), err);
    }
    return;
  }
  await new Promise<void>((done, fail) => io.stdout.write(body, (err) => (err ? fail(err) : done())));
}
