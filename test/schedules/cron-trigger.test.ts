/** The production trigger, on node-cron and real time: it fires, reports its next runs, and leaves nothing behind. */
import t from 'tap';
import { getTasks } from 'node-cron';
import { nodeCronTriggers } from '../../agent/schedules/cron-trigger.js';

t.test('an every-second schedule fires with its scheduled time', async (t) => {
  const before = getTasks().size;
  const fired: Date[] = [];
  let secondFiring: () => void = () => undefined;
  const firedTwice = new Promise<void>((resolve) => (secondFiring = resolve));
  const trigger = nodeCronTriggers({ name: 'every-second', cron: '* * * * * *' }, (at) => {
    fired.push(at);
    if (fired.length === 2) secondFiring();
  });
  t.same(trigger.nextRuns(1), [], 'nothing before start');
  trigger.start();
  trigger.start();
  const [a, b] = trigger.nextRuns(2);
  t.equal((b as Date).getTime() - (a as Date).getTime(), 1000);
  await firedTwice;
  trigger.stop();
  t.equal(getTasks().size, before, 'stop removes the task from node-cron');
  t.same(trigger.nextRuns(1), []);
  t.equal((fired[0] as Date).getMilliseconds(), 0, 'fired with the whole second it was due');
  trigger.stop();
});

t.test('a time zone is passed on', async (t) => {
  const trigger = nodeCronTriggers({ name: 'tz', cron: '0 0 3 * * *', timezone: 'Asia/Tokyo' }, () => undefined);
  trigger.start();
  const next = trigger.nextRuns(1)[0] as Date;
  trigger.stop();
  t.equal(next.getUTCHours(), 18, '03:00 in Tokyo is 18:00 UTC');
});
