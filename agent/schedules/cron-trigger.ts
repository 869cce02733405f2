/**
 * When schedules fire, behind a small interface: node-cron in production, a controllable clock in tests (which
 * still asks node-cron whether a second matches, so both agree on what an expression means).
 */
import { createTask, type ScheduledTask } from 'node-cron';

export interface CronTrigger {
  start(): void;
  stop(): void;
  /** The next `count` fire times from now (empty when stopped or never). */
  nextRuns(count: number): Date[];
}

export interface TriggerSpec {
  name: string;
  cron: string;
  timezone?: string;
}

/** Builds a trigger that calls `fire` with the scheduled time; `fire` must not throw or block. */
export type TriggerFactory = (spec: TriggerSpec, fire: (at: Date) => void) => CronTrigger;

/** node-cron 4: a task per schedule, created stopped. Overlap is handled by the scheduler (it counts skips). */
export const nodeCronTriggers: TriggerFactory = (spec, fire) => {
  let task: ScheduledTask | undefined;
  const create = () =>
    createTask(spec.cron, (ctx) => fire(ctx.date), {
      name: `podflame:${spec.name}`,
      ...(spec.timezone === undefined ? {} : { timezone: spec.timezone }),
      // The callback returns at once; the scheduler tracks its own runs.
      noOverlap: false,
    });
  return {
    start() {
      task ??= create();
      void task.start();
    },
    stop() {
      // destroy(), not stop(): node-cron keeps every task in a process-wide registry until destroyed.
      void task?.destroy();
      task = undefined;
    },
    nextRuns(count) {
      return task ? task.getNextRuns(count) : [];
    },
  };
};
