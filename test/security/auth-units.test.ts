// The small pieces of access control on their own: bearer parsing, the token file, the caches, the rate limiter, the
// loopback guard and --authz-resource.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { makeSelfSignedCert } from '../helpers/self-signed-cert.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { bearerToken } from '../../agent/auth/bearer.js';
import { assertAuthModeAllowed, isLoopbackHost } from '../../agent/auth/listen-guard.js';
import { DEFAULT_TOKEN_USER, parseTokenFile, StaticTokenAuthenticator } from '../../agent/auth/static-token.js';
import { TtlCache } from '../../agent/auth/ttl-cache.js';
import { describeAuthzResource, parseAuthzResource } from '../../agent/authz/resource.js';
import { CallerRateLimiter } from '../../agent/server/middleware/rate-limit.js';
import { loadTlsMaterial } from '../../agent/server/tls.js';

t.test('bearer token from the two headers', async (t) => {
  t.equal(bearerToken({}), undefined);
  t.equal(bearerToken({ authorization: '  ' }), undefined);
  t.equal(bearerToken({ authorization: 'Bearer abc.def-ghi_jkl~m+n/o==' }), 'abc.def-ghi_jkl~m+n/o==');
  t.equal(bearerToken({ authorization: 'bearer   tok' }), 'tok', 'scheme is case-insensitive');
  t.equal(
    bearerToken({ authorization: 'Bearer a', podflameAuthorization: 'Bearer b' }),
    'b',
    'the podflame header wins',
  );
  t.equal(bearerToken({ authorization: 'Bearer a', podflameAuthorization: '' }), 'a');
  for (const bad of ['Basic dXNlcjpwdw==', 'Bearer', 'Bearer a b', 'Bearer tok;rm -rf /', 'Token abc']) {
    t.throws(() => bearerToken({ authorization: bad }), { code: 'UNAUTHENTICATED' }, bad);
  }
});

t.test('token file: kube-apiserver format, constant-time compare', async (t) => {
  const text = [
    '# podflame agent tokens',
    '',
    '0123456789abcdef0123,alice,1001,"profilers,developers"',
    'fedcba9876543210fedcba98',
    'zzzzzzzzzzzzzzzzzzzz,bob',
  ].join('\n');
  const entries = parseTokenFile(text, 'tokens.csv');
  t.equal(entries.length, 3);
  const authn = new StaticTokenAuthenticator(entries);
  t.same(await authn.authenticate({ authorization: 'Bearer 0123456789abcdef0123' }), {
    username: 'alice',
    uid: '1001',
    groups: ['profilers', 'developers'],
    mode: 'token',
  });
  t.equal(
    (await authn.authenticate({ authorization: 'Bearer fedcba9876543210fedcba98' })).username,
    DEFAULT_TOKEN_USER,
  );
  t.equal((await authn.authenticate({ podflameAuthorization: 'Bearer zzzzzzzzzzzzzzzzzzzz' })).username, 'bob');
  await t.rejects(authn.authenticate({}), { code: 'UNAUTHENTICATED', message: /no credentials/ });
  await t.rejects(authn.authenticate({ authorization: 'Bearer 0123456789abcdef012' }), {
    code: 'UNAUTHENTICATED',
    message: 'the bearer token is not in the agent token file',
  });
  await t.rejects(authn.authenticate({ authorization: 'Bearer 0123456789abcdef01234' }), { code: 'UNAUTHENTICATED' });
  t.throws(() => parseTokenFile('# nothing\n\n', 'empty'), { code: 'CONFIG_INVALID', message: /holds no token/ });
  t.throws(() => parseTokenFile('short', 'weak'), { code: 'CONFIG_INVALID', message: /weak line 1: .*at least 16/ });
  t.throws(() => new StaticTokenAuthenticator([]), { code: 'CONFIG_INVALID' });
});

t.test('TtlCache: expiry and least-recently-used eviction', async (t) => {
  let now = 0;
  const cache = new TtlCache<number>({ ttlMs: 100, maxEntries: 2, now: () => now });
  cache.set('a', 1);
  cache.set('b', 2);
  t.equal(cache.get('a'), 1, 'touching a makes b the oldest');
  cache.set('c', 3);
  t.equal(cache.get('b'), undefined, 'b evicted');
  t.equal(cache.get('a'), 1);
  t.equal(cache.size, 2);
  now = 100;
  t.equal(cache.get('a'), undefined, 'expired at its TTL');
  cache.set('d', 4, 0);
  t.equal(cache.get('d'), undefined, 'a zero TTL stores nothing');
  cache.clear();
  t.equal(cache.size, 0);
  t.throws(() => new TtlCache({ ttlMs: -1, maxEntries: 1 }), RangeError);
  t.throws(() => new TtlCache({ ttlMs: 1, maxEntries: 0 }), RangeError);
});

t.test('rate limiter: a token bucket per caller', async (t) => {
  let now = 0;
  const limiter = new CallerRateLimiter({ perMinute: 6, now: () => now });
  for (let i = 0; i < 6; i++) t.ok(limiter.take('alice').ok);
  const refused = limiter.take('alice');
  t.same(refused, { ok: false, retryAfterSeconds: 10 }, 'one request per 10 s once the burst is spent');
  t.ok(limiter.take('bob').ok, 'other callers have their own bucket');
  now += 9_000;
  t.notOk(limiter.take('alice').ok);
  now += 1_000;
  t.ok(limiter.take('alice').ok, 'refilled after Retry-After');
  now += 3_600_000;
  for (let i = 0; i < 6; i++) t.ok(limiter.take('alice').ok, 'refills up to the burst only');
  t.notOk(limiter.take('alice').ok);

  const off = new CallerRateLimiter({ perMinute: 0 });
  t.notOk(off.enabled);
  for (let i = 0; i < 1000; i++) if (!off.take('x').ok) t.fail('limit 0 is off');

  const small = new CallerRateLimiter({ perMinute: 60, maxCallers: 3, now: () => now });
  for (const who of ['a', 'b', 'c', 'd', 'e']) small.take(who);
  for (let i = 0; i < 59; i++) small.take('e');
  t.notOk(small.take('e').ok, 'the busy caller keeps its state while idle ones are forgotten');
  const refunded = new CallerRateLimiter({ perMinute: 2, now: () => now });
  t.ok(refunded.take('addr').ok);
  t.ok(refunded.take('addr').ok);
  refunded.refund('addr');
  t.ok(refunded.take('addr').ok, 'a refunded token can be taken again');
  t.notOk(refunded.take('addr').ok);
  refunded.refund('addr');
  refunded.refund('addr');
  refunded.refund('addr');
  t.ok(refunded.take('addr').ok);
  t.ok(refunded.take('addr').ok);
  t.notOk(refunded.take('addr').ok, 'refunds never fill a bucket above its burst');
  t.throws(() => new CallerRateLimiter({ perMinute: -1 }), { code: 'CONFIG_INVALID' });
  t.throws(() => new CallerRateLimiter({ perMinute: 5, burst: 0 }), { code: 'CONFIG_INVALID' });
});

t.test('auth none only on loopback', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
    t.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.org', '::ffff:10.0.0.1', '128.0.0.1']) {
    t.notOk(isLoopbackHost(h), h);
  }
  t.doesNotThrow(() => assertAuthModeAllowed('none', '127.0.0.1', 7070));
  t.doesNotThrow(() => assertAuthModeAllowed('kubernetes', '0.0.0.0', 7070));
  t.doesNotThrow(() => assertAuthModeAllowed('token', '0.0.0.0'));
  t.throws(() => assertAuthModeAllowed('none', '0.0.0.0', 7070), {
    code: 'CONFIG_INVALID',
    message: /only allowed on a loopback listen address, but the agent was asked to listen on 0\.0\.0\.0:7070/,
  });
  t.throws(() => assertAuthModeAllowed('none', '::'), { code: 'CONFIG_INVALID' });
});

t.test('--authz-resource', async (t) => {
  t.same(parseAuthzResource('pods/exec'), { verb: 'create', group: '', resource: 'pods', subresource: 'exec' });
  t.same(parseAuthzResource('podflame.io/profiles'), { verb: 'create', group: 'podflame.io', resource: 'profiles' });
  t.same(parseAuthzResource('podflame.io/profiles/capture'), {
    verb: 'create',
    group: 'podflame.io',
    resource: 'profiles',
    subresource: 'capture',
  });
  t.same(parseAuthzResource('pods'), { verb: 'create', group: '', resource: 'pods' });
  t.equal(describeAuthzResource(parseAuthzResource('podflame.io/profiles')), 'profiles.podflame.io');
  t.equal(describeAuthzResource(parseAuthzResource('pods/exec')), 'pods/exec');
  for (const bad of ['', '/', 'Pods/exec', 'a/b/c/d', 'pods/exec/x', 'podflame.io/', 'pods/$(id)']) {
    t.throws(() => parseAuthzResource(bad), { code: 'CONFIG_INVALID' }, JSON.stringify(bad));
  }
});

t.test('TLS material: both or neither, a matching pair', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const make = (name: string) => makeSelfSignedCert(dir, { name });
  make('one');
  make('two');
  t.equal(loadTlsMaterial({}), undefined);
  t.ok(loadTlsMaterial({ certFile: join(dir, 'one.crt'), keyFile: join(dir, 'one.key') })?.cert.length);
  t.throws(() => loadTlsMaterial({ certFile: join(dir, 'one.crt') }), {
    code: 'CONFIG_INVALID',
    message: /only --tls-cert/,
  });
  t.throws(() => loadTlsMaterial({ keyFile: join(dir, 'one.key') }), { message: /only --tls-key/ });
  t.throws(() => loadTlsMaterial({ certFile: join(dir, 'one.crt'), keyFile: join(dir, 'two.key') }), {
    code: 'CONFIG_INVALID',
    message: /do not form a usable pair/,
  });
  writeFileSync(join(dir, 'junk.crt'), 'not pem');
  t.throws(() => loadTlsMaterial({ certFile: join(dir, 'junk.crt'), keyFile: join(dir, 'one.key') }), {
    code: 'CONFIG_INVALID',
  });
  t.throws(() => loadTlsMaterial({ certFile: join(dir, 'nope.crt'), keyFile: join(dir, 'one.key') }), {
    code: 'CONFIG_INVALID',
    message: /cannot read the TLS certificate or key/,
  });
});
