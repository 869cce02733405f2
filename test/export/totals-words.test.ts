// What graphs and listings say a profile's total is, in words (shared/profile-events.ts describeTotal and the agent's
// SVG subtitle): units per event, and one sample said in the singular.
import t from 'tap';
import { describeTotal } from '../../shared/profile-events.js';
import { profileSubtitle } from '../../agent/profiles/render-profile.js';
import type { ProfileMetadata } from '../../shared/api.js';

t.test('totals in words, per event', async (t) => {
  t.equal(describeTotal('cpu', 1), '1 sample');
  t.equal(describeTotal('wall', 1234), '1,234 samples');
  t.equal(describeTotal('alloc', 1_200_000_000), '1.2 GB allocated');
  t.match(describeTotal('lock', 3.4e9), /^3\.4 s blocked$/);
});

t.test("the agent's subtitle says 1 sample, not 1 samples", async (t) => {
  const m = {
    id: 'x',
    status: 'done',
    node: 'n',
    target: { containerId: 'c' },
    startedAt: '2026-12-04T00:00:00Z',
    durationSeconds: 1,
    frequencyHz: 99,
    java: { inlined: false },
    event: 'cpu',
    samples: 1,
    jitResolved: null,
    warnings: [],
  } satisfies ProfileMetadata;
  t.match(profileSubtitle(m), /, 1 sample(,|$)/);
  t.match(profileSubtitle({ ...m, event: 'wall' }), /wall, 1 sample in 1 s/);
  t.match(profileSubtitle({ ...m, samples: 2 }), /, 2 samples/);
});

t.test('the agent defaults to the documented day dictionary cap (16 MiB)', async (t) => {
  const { DEFAULT_AGENT_CONFIG } = await import('../../agent/config.js');
  t.equal(DEFAULT_AGENT_CONFIG.storeMaxDictionaryBytes, 16 * 1024 ** 2);
});
