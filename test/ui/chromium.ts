/**
 * Finds Debian's Chromium for the UI test, installing it with apt-get when it is missing and we
 * may (root, apt-get present, not disabled with TRADE_EXEC_NO_BROWSER_INSTALL=1). Runs at module
 * load, synchronously, because jest decides test.skip before any hook runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

export interface ChromiumLookup {
  path?: string;
  /** Why there is no browser (when path is undefined). */
  reason?: string;
  /** What was done to get it (for the test log). */
  note?: string;
}

function works(path: string): boolean {
  try {
    execFileSync(path, ['--version', '--no-sandbox'], { stdio: 'pipe', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function find(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return fs.existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((p) => fs.existsSync(p));
}

export function locateChromium(): ChromiumLookup {
  const found = find();
  if (found) return works(found) ? { path: found } : { reason: `${found} exists but \`${found} --version\` fails` };
  if (process.env.CHROMIUM_PATH) return { reason: `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist` };
  if (process.env.TRADE_EXEC_NO_BROWSER_INSTALL === '1') return { reason: 'chromium is not installed and TRADE_EXEC_NO_BROWSER_INSTALL=1' };
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const aptGet = ['/usr/bin/apt-get', '/bin/apt-get'].find((p) => fs.existsSync(p));
  if (!isRoot || !aptGet) {
    return { reason: 'chromium is not installed (install it: apt-get update && apt-get install -y chromium, or set CHROMIUM_PATH)' };
  }
  process.stderr.write('[ui test] chromium not found: installing Debian\'s chromium with apt-get (a few minutes)\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts = { env, stdio: 'pipe' as const, timeout: 10 * 60_000, encoding: 'utf8' as const };
  const update = spawnSync(aptGet, ['update'], opts);
  const install = spawnSync(aptGet, ['install', '-y', '--no-install-recommends', 'chromium'], opts);
  const after = find();
  if (after && works(after)) return { path: after, note: 'installed with apt-get' };
  const tail = `${update.stderr ?? ''}\n${install.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  return { reason: `chromium is not installed and apt-get install chromium failed: ${tail}` };
}
