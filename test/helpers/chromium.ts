/**
 * Debian's Chromium for the browser tests, started as this machine needs it: headless, no sandbox (root), and no
 * background networking (the machine has no network: Chromium's own connections would be refused, many at a
 * time). Not a test file.
 */
import { existsSync } from 'node:fs';
import type { Test } from 'tap';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium and closes it when `t` ends. */
export async function launchChromium(t: Test): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  t.teardown(() => browser.close());
  return browser;
}

/**
 * True when Chromium is installed. Otherwise fails the file under CI (which must run it) and elsewhere skips it
 * loudly, saying how to install it.
 */
export function requireChromium(t: Test, what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (CI must run ${what})`);
  } else {
    console.error(`\n!!! SKIPPING ${what}: ${CHROMIUM} is missing (apt-get install chromium) !!!\n`);
    t.plan(0, `${CHROMIUM} is missing`);
  }
  return false;
}
