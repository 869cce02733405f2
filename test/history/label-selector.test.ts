import t from 'tap';
import { matchesLabels, parseLabelSelector } from '../../shared/label-selector.js';

const shop = { app: 'shop', tier: 'web', 'app.kubernetes.io/version': '1.2.0' };
const cache = { app: 'cache', tier: 'cache' };

t.test('every operator, as the API server matches them', async (t) => {
  const cases: [string, boolean, boolean][] = [
    ['', true, true],
    ['app=shop', true, false],
    ['app==shop', true, false],
    ['app!=shop', false, true],
    ['missing!=x', true, true],
    ['tier in (web, api)', true, false],
    ['tier notin (web,api)', false, true],
    ['app.kubernetes.io/version', true, false],
    ['!app.kubernetes.io/version', false, true],
    ['app=shop,tier=web', true, false],
    ['app in (shop,cache),tier!=web', false, true],
    ['app.kubernetes.io/version=1.2.0', true, false],
  ];
  for (const [text, onShop, onCache] of cases) {
    const s = parseLabelSelector(text);
    t.equal(matchesLabels(s, shop), onShop, `${JSON.stringify(text)} on shop`);
    t.equal(matchesLabels(s, cache), onCache, `${JSON.stringify(text)} on cache`);
  }
});

t.test('malformed selectors are refused with an example', async (t) => {
  for (const bad of ['app=shop,', 'a b=c', 'app=sh op', 'app in (a b)', '=x', '!', 'app=' + 'x'.repeat(64)]) {
    t.throws(
      () => parseLabelSelector(bad),
      { code: 'INVALID_REQUEST', message: /label selector .*expected e\.g\./ },
      bad,
    );
  }
  t.same(parseLabelSelector('app='), { text: 'app=', requirements: [{ op: 'eq', key: 'app', value: '' }] });
});
