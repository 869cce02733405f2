import t from 'tap';
import { parseProfileRequest } from '../../agent/server/validation.js';
import { PodflameError } from '../../shared/errors.js';

function message(body: unknown): string {
  try {
    parseProfileRequest(body);
  } catch (err) {
    if (err instanceof PodflameError && err.code === 'INVALID_REQUEST') return err.message;
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(body)}`);
}

const ok = { target: { containerId: 'abcdef012345' } };

t.test('defaults fill in', async (t) => {
  t.same(parseProfileRequest(ok), { ...ok, durationSeconds: 30, frequencyHz: 99, format: 'svg', event: 'cpu' });
  const pod = { target: { podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', container: 'app' }, format: 'json' };
  t.equal(parseProfileRequest(pod).format, 'json');
  t.same(parseProfileRequest({ ...ok, java: {} }).java, { inlined: false }, 'java.inlined defaults to false');
  t.same(parseProfileRequest({ ...ok, java: { inlined: true } }).java, { inlined: true });
});

t.test('messages name the field, what was expected and what was sent', async (t) => {
  t.match(message({ ...ok, colour: 'red' }), /unknown field 'colour' in request body/);
  t.match(message({ target: { containerId: 'abcdef012345', image: 'evil' } }), /unknown field 'image' in target/);
  t.match(message({ ...ok, durationSeconds: 0 }), /durationSeconds: Number must be greater than or equal to 1, got 0/);
  t.match(
    message({ ...ok, durationSeconds: 10000 }),
    /durationSeconds: Number must be less than or equal to 600, got 10000/,
  );
  t.match(message({ ...ok, frequencyHz: 5000 }), /frequencyHz: Number must be less than or equal to 999, got 5000/);
  t.match(message({ ...ok, durationSeconds: 1.5 }), /durationSeconds: Expected integer/);
  t.match(message({ ...ok, format: 'png' }), /format: .*'svg' \| 'folded' \| 'json', received 'png'$/);
  t.match(
    message({ target: { podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', container: 'a;rm -rf /' } }),
    /target.container: a Kubernetes container name .*got "a;rm -rf \/"/,
  );
  t.match(message({ target: { containerId: 'xyz' } }), /target.containerId: a container ID of 12 to 64 hex digits/);
  t.match(
    message({ target: {} }),
    /target must be \{"podUid": "...", "container": "..."\} or \{"containerId": "..."\}/,
  );
  t.match(message({ target: { podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c' } }), /target.container is required/);
  t.match(message({}), /target is required/);
  t.match(message([1]), /the request body must be a JSON object, got array/);
  t.match(message(undefined), /needs a JSON body/);
  t.match(message({ ...ok, java: { inlined: true, agentPath: '/x.so' } }), /unknown field 'agentPath' in java/);
  t.match(message({ ...ok, java: { inlined: 1 } }), /java.inlined: Expected boolean, received number/);
  t.match(message({ ...ok, java: true }), /java: Expected object, received boolean/);
  t.match(
    message({ ...ok, render: { width: 5, fonttype: 'x' } }),
    /render.width: .*; unknown field 'fonttype' in render/,
  );
});

t.test('details list every issue with its path', async (t) => {
  try {
    parseProfileRequest({ ...ok, durationSeconds: 0, extra: 1 });
    t.fail('accepted');
  } catch (err) {
    const issues = (err as PodflameError).details?.issues as { path: string }[];
    t.same(issues.map((i) => i.path).sort(), ['durationSeconds', 'request body']);
  }
});

t.test('options that do not apply to a Flight Recorder event are refused, saying why (#14)', async (t) => {
  t.match(
    message({ ...ok, event: 'alloc', java: { inlined: true } }),
    /java.inlined is for the cpu event only .* leave it out/,
  );
  t.match(message({ ...ok, event: 'wall', java: { inlined: true } }), /java.inlined is for the cpu event only/);
  t.match(
    message({ ...ok, event: 'alloc', frequencyHz: 99 }),
    /frequencyHz does not apply to alloc: .*bytes allocated/,
  );
  t.match(message({ ...ok, event: 'lock', frequencyHz: 50 }), /frequencyHz does not apply to lock: .*time blocked/);
  t.match(
    message({ ...ok, event: 'wall', frequencyHz: 200 }),
    /frequencyHz is at most 100 Hz for wall, got 200: Flight Recorder samples each thread at most every 10 ms/,
  );
  // What does apply is accepted: a wall frequency up to 100 Hz, cpu's options, and alloc/lock without them.
  t.equal(parseProfileRequest({ ...ok, event: 'wall', frequencyHz: 100 }).frequencyHz, 100);
  t.equal(parseProfileRequest({ ...ok, event: 'cpu', frequencyHz: 999, java: { inlined: true } }).frequencyHz, 999);
  t.equal(parseProfileRequest({ ...ok, event: 'alloc' }).event, 'alloc');
  t.equal(
    parseProfileRequest({ ...ok, event: 'lock', java: { inlined: false } }).event,
    'lock',
    'inlined false is harmless',
  );
});
