/**
 * Runs tasks with at most `limit` in flight overall and at most `perKeyLimit` per key (a node: its agent refuses
 * more than its own --max-concurrent with 429). Tasks start in the order given whenever their key has room.
 * Every task's outcome is kept: one failure does not stop the others.
 */
export interface BoundedTask<T> {
  key: string;
  run: () => Promise<T>;
}

export async function runBounded<T>(
  tasks: readonly BoundedTask<T>[],
  limit: number,
  perKeyLimit: number,
): Promise<PromiseSettledResult<T>[]> {
  if (!(limit >= 1) || !(perKeyLimit >= 1)) throw new RangeError('limits must be at least 1');
  const results: PromiseSettledResult<T>[] = new Array(tasks.length);
  const pending = tasks.map((_, i) => i);
  const perKey = new Map<string, number>();
  let inFlight = 0;
  return new Promise((resolve) => {
    const pump = (): void => {
      for (let p = 0; p < pending.length && inFlight < limit;) {
        const index = pending[p] as number;
        const task = tasks[index] as BoundedTask<T>;
        const used = perKey.get(task.key) ?? 0;
        if (used >= perKeyLimit) {
          p++;
          continue;
        }
        pending.splice(p, 1);
        inFlight++;
        perKey.set(task.key, used + 1);
        Promise.resolve()
          .then(task.run)
          .then(
            (value) => {
              results[index] = { status: 'fulfilled', value };
            },
            (reason: unknown) => {
              results[index] = { status: 'rejected', reason };
            },
          )
          .finally(() => {
            inFlight--;
            perKey.set(task.key, (perKey.get(task.key) ?? 1) - 1);
            pump();
          });
      }
      if (inFlight === 0 && pending.length === 0) resolve(results);
    };
    pump();
  });
}
