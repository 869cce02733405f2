import t from 'tap';
import {
  parseScheduleBody,
  parseSchedulesFile,
  retentionSeconds,
  writtenForm,
  type ScheduleSpec,
} from '../../agent/schedules/schedule-config.js';

const GOOD = `
# A ConfigMap mounted at /etc/podflame/schedules.yaml
schedules:
  - name: shop-every-10m
    cron: "0 */10 * * * *"
    namespace: shop
    labelSelector: app=shop,tier in (web,api)
    container: app
    durationSeconds: 30
    frequencyHz: 99
    inlined: true
    retention: 7d
  - name: billing-nightly
    cron: "0 3 * * *"
    timezone: Europe/Paris
    namespace: billing
    pod: billing-0
    durationSeconds: 120
    frequencyHz: 49
`;

t.test('a valid file', async (t) => {
  const specs = parseSchedulesFile(GOOD, 'schedules.yaml');
  t.same(specs, [
    {
      name: 'shop-every-10m',
      cron: '0 */10 * * * *',
      namespace: 'shop',
      labelSelector: 'app=shop,tier in (web,api)',
      container: 'app',
      durationSeconds: 30,
      frequencyHz: 99,
      inlined: true,
      retention: '7d',
    },
    {
      name: 'billing-nightly',
      cron: '0 3 * * *',
      timezone: 'Europe/Paris',
      namespace: 'billing',
      pod: 'billing-0',
      durationSeconds: 120,
      frequencyHz: 49,
    },
  ]);
  t.equal(retentionSeconds(specs[0]!), 7 * 86400);
  t.equal(retentionSeconds(specs[1]!), undefined);
  t.same(parseSchedulesFile('', 'empty.yaml'), [], 'an empty file has no schedules');
  t.same(parseSchedulesFile('schedules: []', 'none.yaml'), []);
});

t.test('a name may be used once per namespace: the same name in two namespaces is two schedules', async (t) => {
  const one = (namespace: string) =>
    `  - name: nightly\n    cron: "0 0 3 * * *"\n    namespace: ${namespace}\n    durationSeconds: 5\n    frequencyHz: 49\n`;
  const specs = parseSchedulesFile(`schedules:\n${one('shop')}${one('vault')}`, 'f.yaml');
  t.same(
    specs.map((s) => [s.namespace, s.name]),
    [
      ['shop', 'nightly'],
      ['vault', 'nightly'],
    ],
  );
  t.throws(() => parseSchedulesFile(`schedules:\n${one('shop')}${one('shop')}`, 'f.yaml'), {
    code: 'CONFIG_INVALID',
    message: /schedule 'nightly' \(item 2\): namespace shop has the name twice/,
  });
});

t.test('errors name the file, the schedule and the field', async (t) => {
  const entry = (extra: string) =>
    `schedules:\n  - name: shop\n    cron: "*/3 * * * * *"\n    namespace: shop\n    durationSeconds: 2\n    frequencyHz: 99\n${extra}`;
  const cases: [string, RegExp][] = [
    [
      entry('    retention: forever\n'),
      /schedules file f\.yaml: schedule 'shop' \(item 1\): retention: 'forever' is not a duration/,
    ],
    [
      entry('    labelSelector: "a b"\n'),
      /schedule 'shop' \(item 1\): labelSelector: label selector 'a b' is not valid/,
    ],
    [entry('    colour: red\n'), /schedule 'shop' \(item 1\): unknown field colour/],
    [entry('    inlined: yes please\n'), /schedule 'shop' \(item 1\): inlined: Expected boolean, received string/],
    [
      entry('    event: heap\n'),
      /schedule 'shop' \(item 1\): event: must be one of cpu \(samples\), alloc \(bytes\), lock \(nanoseconds\), wall \(samples\)/,
    ],
    [entry('    event: 1\n'), /schedule 'shop' \(item 1\): event: must be one of cpu/],
    [entry('    timezone: Mars/Olympus\n'), /timezone: 'Mars\/Olympus' is not an IANA time zone/],
    [entry('    container: App_1\n'), /container: must be a container name/],
    [
      entry('  - name: shop\n    cron: "* * * * *"\n    namespace: shop\n    durationSeconds: 1\n    frequencyHz: 1\n'),
      /schedule 'shop' \(item 2\): namespace shop has the name twice; rename one/,
    ],
    [
      'schedules:\n  - name: shop\n    cron: "61 * * * *"\n    namespace: shop\n    durationSeconds: 2\n    frequencyHz: 99\n',
      /cron: '61 \* \* \* \*' is not a cron expression \(61 is a invalid expression for minute\)/,
    ],
    [
      'schedules:\n  - name: shop\n    cron: "* *"\n    namespace: shop\n    durationSeconds: 2\n    frequencyHz: 99\n',
      /expected 5 or 6 fields/,
    ],
    [
      'schedules:\n  - name: shop\n    cron: "* * * * *"\n    namespace: shop\n    frequencyHz: 99\n',
      /durationSeconds: is required/,
    ],
    [
      'schedules:\n  - name: shop\n    cron: "* * * * *"\n    namespace: shop\n    durationSeconds: 601\n    frequencyHz: 99\n',
      /durationSeconds: Number must be less than or equal to 600/,
    ],
    [
      'schedules:\n  - name: shop\n    cron: "* * * * *"\n    namespace: shop\n    durationSeconds: 5\n    frequencyHz: 5000\n',
      /frequencyHz: Number must be less than or equal to 999/,
    ],
    ['schedules:\n  - cron: "* * * * *"\n', /schedule item 1: name: is required; namespace: is required/],
    ['schedules:\n  - name: Shop!\n', /schedule 'Shop!' \(item 1\): name: must be a name/],
    ['schedule:\n  - name: x\n', /must be a mapping with a 'schedules:' list \(unknown field schedule\)/],
    ['schedules: [unclosed', /is not valid YAML/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseSchedulesFile(text, 'f.yaml'), { code: 'CONFIG_INVALID', message }, String(message));
  }
});

t.test('PUT bodies', async (t) => {
  const body = { cron: '*/5 * * * * *', namespace: 'shop', durationSeconds: 3, frequencyHz: 99 };
  t.same(parseScheduleBody('quick', body), { name: 'quick', ...body });
  t.same(parseScheduleBody('quick', { ...body, name: 'quick' }).name, 'quick');
  t.equal(parseScheduleBody('quick', { ...body, inlined: true }).inlined, true, 'inlined is kept');
  t.equal(parseScheduleBody('quick', { ...body, inlined: false }).inlined, false);
  t.throws(() => parseScheduleBody('quick', { ...body, inlined: 1 }), {
    code: 'INVALID_REQUEST',
    message: /inlined: Expected boolean, received number/,
  });
  t.notOk('event' in parseScheduleBody('quick', body), 'no event: the default (cpu) is not written in');
  for (const event of ['cpu', 'alloc', 'lock', 'wall']) {
    // alloc and lock take no frequency (tested below).
    const { frequencyHz, ...weighted } = body;
    const asked = event === 'alloc' || event === 'lock' ? weighted : { ...body, frequencyHz };
    t.equal(parseScheduleBody('quick', { ...asked, event }).event, event, `event ${event} is kept`);
  }
  t.throws(() => parseScheduleBody('quick', { ...body, event: 'ALLOC' }), {
    code: 'INVALID_REQUEST',
    message: /event: must be one of cpu \(samples\), alloc \(bytes\)/,
  });
  t.throws(() => parseScheduleBody('quick', { ...body, name: 'other' }), {
    code: 'INVALID_REQUEST',
    message: /body names 'other'/,
  });
  t.throws(() => parseScheduleBody('Bad_Name', body), { code: 'INVALID_REQUEST', message: /schedule name 'Bad_Name'/ });
  t.throws(() => parseScheduleBody('quick', { ...body, extra: 1 }), {
    code: 'INVALID_REQUEST',
    message: /unknown field extra/,
  });
  t.throws(() => parseScheduleBody('quick', null), { code: 'INVALID_REQUEST' });
});

t.test(
  "an event's options as POST /v1/profiles takes them: alloc and lock take no frequency, only cpu inlined",
  async (t) => {
    const entry = (extra: string): string =>
      `schedules:\n  - name: a\n    cron: "0 * * * *"\n    namespace: shop\n    durationSeconds: 10\n${extra}`;
    const [alloc] = parseSchedulesFile(entry('    event: alloc\n'), 's.yaml');
    t.equal(alloc?.event, 'alloc', 'alloc without frequencyHz is accepted');
    t.same(
      writtenForm(alloc as ScheduleSpec),
      { name: 'a', cron: '0 * * * *', namespace: 'shop', durationSeconds: 10, event: 'alloc' },
      'and saved without one',
    );
    t.equal(parseSchedulesFile(entry(''), 's.yaml')[0]?.frequencyHz, 99, 'cpu defaults to 99 Hz');
    t.equal(parseSchedulesFile(entry('    event: wall\n    frequencyHz: 50\n'), 's.yaml')[0]?.frequencyHz, 50);
    t.throws(() => parseSchedulesFile(entry('    event: lock\n    frequencyHz: 99\n'), 's.yaml'), {
      code: 'CONFIG_INVALID',
      message: /schedule 'a' \(item 1\): frequencyHz does not apply to lock/,
    });
    t.throws(() => parseSchedulesFile(entry('    event: alloc\n    inlined: true\n'), 's.yaml'), {
      message: /inlined is for the cpu event only/,
    });
    t.throws(() => parseSchedulesFile(entry('    event: wall\n    frequencyHz: 200\n'), 's.yaml'), {
      message: /at most 100 Hz for wall/,
    });
    t.throws(
      () =>
        parseScheduleBody('b', {
          cron: '0 * * * *',
          namespace: 'shop',
          durationSeconds: 5,
          event: 'lock',
          frequencyHz: 49,
        }),
      {
        code: 'INVALID_REQUEST',
        message: /frequencyHz does not apply to lock/,
      },
    );
    t.equal(
      parseScheduleBody('b', { cron: '0 * * * *', namespace: 'shop', durationSeconds: 5, event: 'lock' }).event,
      'lock',
    );
  },
);
