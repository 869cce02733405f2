/** The capture script's JSON-line warnings of one code, read from its stderr. */
export function scriptWarnings(stderr: string, code: string): { message: string; pid?: number }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{"podflameWarning"'))
    .map((l) => (JSON.parse(l) as { podflameWarning: { code: string; message: string; pid?: number } }).podflameWarning)
    .filter((w) => w.code === code);
}
