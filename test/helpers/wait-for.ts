/**
 * The one polling helper of the tests: waits for a condition that no event announces (a container listed by the
 * engine, a line in a log, a watcher's state), checking it every `everyMs` until it holds or `ms` have passed.
 * Where an event exists (a promise, a stream's data, a child's exit), tests wait for that instead.
 */

/** A check's "not yet": anything else is the value waited for. */
type NotYet = false | undefined | null;

/**
 * Calls `check` every `everyMs` (default 20) until it returns something other than false, undefined or null, and
 * resolves with that; rejects with "timed out after MS ms waiting for WHAT" after `ms`, or with check's own error.
 * Poll an agent's HTTP API no faster than every 250 ms: its per-caller rate limit (120 a minute by default) applies
 * to tests too.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  ms: number,
  what: string,
  everyMs = 20,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined && value !== null) return value as Exclude<T, NotYet>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Whether `condition` holds within `ms` (checked every `everyMs`): waitFor for a `t.ok`, false instead of a throw. */
export async function holdsWithin(condition: () => boolean, ms: number, everyMs = 5): Promise<boolean> {
  return waitFor(condition, ms, 'the condition', everyMs).then(
    () => true,
    () => false,
  );
}
