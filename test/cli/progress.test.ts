// The profile commands' progress line (client/cli/commands/profile-options.ts): it counts the client's own time since
// the request and, past the recording's length, says what it waits for — never that the capture is done, which a
// cold user saw for 30 s while a busy node was still starting the capture container.
import t from 'tap';
import { progressText, startProgress } from '../../client/cli/commands/profile-options.js';
import { memoryIO } from '../helpers/cli-io.js';

t.test('within the recording: the time since the request, against its length', async (t) => {
  t.equal(progressText(0, 10, 'prod/shop-1'), 'capturing prod/shop-1: 0 s, the recording takes 10 s');
  t.equal(progressText(9, 10, 'prod/shop-1'), 'capturing prod/shop-1: 9 s, the recording takes 10 s');
});

t.test('past its length: waiting for the agent, not "done"', async (t) => {
  for (const elapsed of [10, 42]) {
    const text = progressText(elapsed, 10, 'prod/shop-1');
    t.equal(
      text,
      `capturing prod/shop-1: ${elapsed} s, waiting for the agent to finish the 10 s recording and send the graph`,
    );
    t.notMatch(text, /done/);
  }
});

t.test('on a terminal the line is drawn at once and cleared at the end; elsewhere nothing', async (t) => {
  const tty = memoryIO({ interactive: true });
  const stop = startProgress(tty.io, 5, 'prod/shop-1');
  stop();
  stop();
  t.equal(tty.err(), '\r\x1b[Kpodflame: capturing prod/shop-1: 0 s, the recording takes 5 s\r\x1b[K');
  const log = memoryIO({ interactive: false });
  startProgress(log.io, 5, 'prod/shop-1')();
  t.equal(log.err(), '');
});
