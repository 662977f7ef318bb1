/**
 * jest globalTeardown: stops what test/support/global-setup.ts started (same process and realm),
 * then names what a test left open.
 *
 * jest runs without forceExit (see jest.config.js): every test file closes what it opened. Once
 * the services are stopped, this lists what is still open by kind (a socket with its peer, a
 * child process with its command, a ref'd timer) and says so; and if the process is still alive
 * EXIT_WATCHDOG_MS later, it says so again and exits 1 rather than keeping CI waiting (its timer
 * is unref'd: a suite that closed everything exits at once). Leaks found this way: a worker
 * process worker-crash.test.ts had left (a97e3ad), and npm-run-stack.test.ts's 150 s race
 * timer, which kept the process alive ~142 s after the last test with nothing _getActiveHandles()
 * lists (a022676).
 */
import { stopTestServices, TEST_SERVICES_KEY, type TestServiceHandles } from './global-setup';

const LEAK_GRACE_MS = 2_000;
const EXIT_WATCHDOG_MS = 20_000;

export default async function globalTeardown(globalConfig?: { watch?: boolean; watchAll?: boolean }): Promise<void> {
  const g = globalThis as unknown as Record<symbol, TestServiceHandles | undefined>;
  const handles = g[TEST_SERVICES_KEY];
  delete g[TEST_SERVICES_KEY];
  if (handles) await stopTestServices(handles);
  // A run that ends before the background server build (a -t or --shard run on a new machine)
  // lets it finish, so it is cached next time, rather than leaving `go build` children behind
  // for the watchdog to find.
  if (handles?.prebuild) {
    const stillBuilding = await Promise.race([handles.prebuild.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 50))]);
    if (stillBuilding) process.stderr.write('[test-services] waiting for the background Temporal server build to finish (cached after)\n');
    await handles.prebuild;
  }
  await reportLeaks();
  // In watch mode the process lives on between runs by design.
  if (!globalConfig?.watch && !globalConfig?.watchAll) watchExit();
}

/** Exits 1 if something still keeps the process alive EXIT_WATCHDOG_MS after teardown. */
function watchExit(): void {
  setTimeout(() => {
    process.stderr.write(
      `[test-services] the process is still alive ${EXIT_WATCHDOG_MS / 1000} s after the last test; open: ${openHandleNames().join(', ') || 'nothing node can name'}; exiting 1\n`,
    );
    process.exit(1);
  }, EXIT_WATCHDOG_MS).unref();
}

async function reportLeaks(): Promise<void> {
  try {
    // Connections and processes being closed as teardown ends get a moment to finish.
    await new Promise((resolve) => setTimeout(resolve, LEAK_GRACE_MS));
    const open = openHandleNames();
    if (open.length === 0) return;
    process.stderr.write(
      `[test-services] still open after the last test: ${open.join(', ')}\n` +
        '[test-services] run the files with `npx jest --detectOpenHandles <files>` to see where they were opened\n',
    );
  } catch {
    // A report only: never a reason for teardown to fail.
  }
}

/**
 * What keeps the event loop alive, by kind: node's handles (sockets with their peer, child
 * processes with their command) and, from process.getActiveResourcesInfo(), what
 * _getActiveHandles() never lists: ref'd timers and pending requests. Our own stdout and stderr
 * are left out (jest writes to them; they were the "2 Socket" every run reported). Not stdin:
 * reading process.stdin would open it.
 */
function openHandleNames(): string[] {
  const active = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles?.() ?? [];
  const stdio = new Set<object>([process.stdout, process.stderr]);
  const counts = new Map<string, number>();
  const add = (name: string): void => void counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const handle of active) {
    if (!stdio.has(handle)) add(`${handle.constructor?.name ?? 'unknown'}${describeHandle(handle)}`);
  }
  for (const kind of process.getActiveResourcesInfo?.() ?? []) {
    if (kind === 'Timeout') add('ref\'d timer (setTimeout/setInterval)');
    else if (/Req|Request/.test(kind)) add(`pending ${kind}`);
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
