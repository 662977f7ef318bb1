/**
 * jest globalTeardown: stops what test/support/global-setup.ts started (same process and realm),
 * then watches that the process can exit on its own.
 *
 * The suite runs without jest's forceExit: a test file that leaves a socket, a timer or a child
 * process behind keeps the process alive, and instead of hiding that (forceExit) or hanging CI,
 * the watchdog below names what is still open and exits 1 after LEAK_GRACE_MS. Its timer is
 * unref'd, so a suite that closed everything exits at once, as if it were not there.
 */
import { stopTestServices, TEST_SERVICES_KEY, type TestServiceHandles } from './global-setup';

const LEAK_GRACE_MS = 20_000;

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as unknown as Record<symbol, TestServiceHandles | undefined>;
  const handles = g[TEST_SERVICES_KEY];
  delete g[TEST_SERVICES_KEY];
  if (handles) await stopTestServices(handles);
  watchForLeaks();
}

function watchForLeaks(): void {
  const timer = setTimeout(() => {
    const open = openHandleNames();
    process.stderr.write(
      `[test-services] the process is still alive ${LEAK_GRACE_MS / 1000} s after the last test: a test left these open: ${open.join(', ') || 'nothing node can name'}\n` +
        '[test-services] run the files with `npx jest --detectOpenHandles <files>` to see where they were opened\n',
    );
    process.exit(1);
  }, LEAK_GRACE_MS);
  timer.unref();
}

/** Node's own list of what keeps the event loop alive (sockets, timers, child processes), by kind. */
function openHandleNames(): string[] {
  const active = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
  const counts = new Map<string, number>();
  for (const handle of active) {
    const name = `${handle.constructor?.name ?? 'unknown'}${describeHandle(handle)}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, count]) => `${count} ${name}`);
}

/** Where a socket goes or what a child process runs: enough to find the test that opened it. */
function describeHandle(handle: object): string {
  const socket = handle as { remoteAddress?: string; remotePort?: number; localPort?: number; _type?: string };
  if (socket.remotePort !== undefined) return ` (to ${socket.remoteAddress}:${socket.remotePort})`;
  const child = handle as { spawnargs?: string[]; pid?: number };
  if (child.spawnargs) return ` (pid ${child.pid}: ${child.spawnargs.join(' ').slice(0, 200)})`;
  if (socket.localPort !== undefined) return ` (listening on ${socket.localPort})`;
  return '';
}
