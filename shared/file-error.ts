/**
 * Why a file could not be read, in a few words: Node's own message repeats the code and the path
 * (`ENOENT: no such file or directory, open '/tmp/x'`), which the message around it already names.
 */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a folder on its path is a file',
};

export function fileErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const reason = code === undefined ? undefined : REASONS[code];
  if (reason !== undefined) return reason;
  return err instanceof Error ? err.message : String(err);
}
