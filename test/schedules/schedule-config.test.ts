import t from 'tap';
import { parseScheduleBody, parseSchedulesFile, retentionSeconds } from '../../agent/schedules/schedule-config.js';

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
    event: alloc
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
      event: 'alloc',
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
    t.equal(parseScheduleBody('quick', { ...body, event }).event, event, `event ${event} is kept`);
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
