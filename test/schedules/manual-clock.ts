/**
 * A clock the test moves by hand, for schedules: triggers fire when `advance()` passes a second that node-cron says
 * the expression matches, and `sleep()` (the scheduler's jitter, a fake capture's duration) resolves when the clock
 * passes its due time. Nothing waits for real time.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { CronTrigger, TriggerFactory } from '../../agent/schedules/cron-trigger.js';

interface Sleeper {
  due: number;
  resolve: () => void;
}

interface ManualTrigger {
  task: ScheduledTask;
  started: boolean;
  fire: (at: Date) => void;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ManualClock {
  private nowMs: number;
  private readonly sleepers = new Set<Sleeper>();
  private readonly live = new Set<ManualTrigger>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Every time a trigger fired, for assertions. */
  readonly fired: { name: string; at: string }[] = [];

  constructor(startIso: string) {
    this.nowMs = Date.parse(startIso);
  }

  now = (): number => this.nowMs;

  /**
   * Real I/O started on behalf of the code under test (the store's file writes): `advance()` waits for it at every
   * step, as if it took no time, so that fake time and real I/O cannot race.
   */
  track = <T>(promise: Promise<T>): Promise<T> => {
    this.inFlight.add(promise);
    const done = () => this.inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  };

  sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sleeper: Sleeper = { due: this.nowMs + ms, resolve };
      this.sleepers.add(sleeper);
      signal.addEventListener(
        'abort',
        () => {
          this.sleepers.delete(sleeper);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  };

  triggers: TriggerFactory = (spec, fire) => {
    const task = createTask(spec.cron, () => undefined, {
      name: `manual:${spec.name}`,
      ...(spec.timezone === undefined ? {} : { timezone: spec.timezone }),
    });
    const trigger: ManualTrigger = { task, started: false, fire };
    const named = (at: Date) => {
      this.fired.push({ name: spec.name, at: at.toISOString() });
      fire(at);
    };
    trigger.fire = named;
    this.live.add(trigger);
    const api: CronTrigger = {
      start: () => {
        trigger.started = true;
      },
      stop: () => {
        trigger.started = false;
        this.live.delete(trigger);
        void task.destroy();
      },
      nextRuns: (count) => {
        if (!trigger.started) return [];
        const out: Date[] = [];
        // Scan whole seconds after now, as node-cron's own scheduler does; two days is plenty for test patterns.
        let t = Math.floor(this.nowMs / 1000) * 1000 + 1000;
        for (let i = 0; i < 2 * 86400 && out.length < count; i++, t += 1000) {
          if (task.match(new Date(t))) out.push(new Date(t));
        }
        return out;
      },
    };
    return api;
  };

  /** Moves the clock forward by `ms`, one second at a time, firing triggers and waking sleepers on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      const nextSecond = Math.floor(this.nowMs / 1000) * 1000 + 1000;
      const nextSleeper = Math.min(...[...this.sleepers].map((s) => s.due));
      const step = Math.min(end, nextSecond, nextSleeper);
      this.nowMs = step;
      for (const s of [...this.sleepers]) {
        if (s.due <= this.nowMs) {
          this.sleepers.delete(s);
          s.resolve();
        }
      }
      if (this.nowMs % 1000 === 0) {
        for (const trigger of [...this.live]) {
          if (trigger.started && trigger.task.match(new Date(this.nowMs))) trigger.fire(new Date(this.nowMs));
        }
      }
      // Let the work this step released run before time moves on, real I/O included.
      for (let i = 0; i < 20; i++) await flush();
      while (this.inFlight.size > 0) {
        await Promise.allSettled([...this.inFlight]);
        for (let i = 0; i < 20; i++) await flush();
      }
    }
  }

  /** Destroys the node-cron tasks made for matching. */
  close(): void {
    for (const trigger of this.live) void trigger.task.destroy();
    this.live.clear();
  }
}
