/**
 * `npm run stack` as a user runs it: the command itself (`tsx src/operations/stack/main.ts`), until it prints "stack is ready" and its addresses; a decision sent to the Redis
 * it printed becomes a filled trade; then SIGINT to the whole terminal process group (what Ctrl-C
 * does) stops everything: the command exits 0 and no process of the stack is left.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ROOT } from '../../src/operations/stack/topology';
import { approvedDecision } from '../support/decisions';
import { say, untilReported, type StackHarness } from './support';

jest.setTimeout(45 * 60_000); // on a fresh machine the first start builds the server (globalSetup starts that)

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`;
  } catch {
    return `${pid} (gone)`;
  }
}

/** Every process below `root` (children, their children, ...), from /proc's parent pids. */
function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const [child, parent] of parentOf) if (parent === pid) (out.push(child), queue.push(child));
  }
  return out;
}

test('npm run stack: "stack is ready" with every address; a decision becomes a trade; Ctrl-C stops everything and exits 0', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trade-exec-npm-stack-'));
  fs.chmodSync(dataDir, 0o755);
  const out: string[] = [];
  // Its own process group stands for the terminal's foreground group that Ctrl-C signals.
  // What `npm run stack` runs (checked below), without npm in between: npm itself dies of the
  // terminal's SIGINT at once and leaves its child to finish, so its exit code says nothing.
  const script = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.stack;
  expect(script).toBe('tsx src/operations/stack/main.ts');
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), ['src/operations/stack/main.ts'], {
    cwd: ROOT,
    detached: true,
    // DATABASE_URL emptied: the stack's own embedded PostgreSQL, as a user without one gets.
    env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, STACK_WORKERS: '1', STACK_BRIDGES: '1', STACK_PORTS: 'free', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => out.push(b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => process.stderr.write(b));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let redis: Redis | undefined;
  try {
    const deadline = Date.now() + 40 * 60_000;
    while (!out.join('').includes('Press Ctrl-C to stop.')) {
      if (Date.now() > deadline) throw new Error(`no banner:\n${out.join('')}`);
      if (child.exitCode !== null) throw new Error(`npm run stack exited ${child.exitCode}:\n${out.join('')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const banner = out.join('');
    say(`banner:\n${banner}`);
    expect(banner).toMatch(/^stack is ready$/m);
    for (const label of ['Temporal server:', 'Temporal UI:', 'PostgreSQL:', 'Redis:', 'Exchange:', 'worker-1', 'bridge-1', 'Logs:']) expect(banner).toContain(label);
    const redisUrl = /REDIS_URL=(\S+)/.exec(banner)![1]!;
    redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const decisionId = `npm-stack-${Date.now().toString(36)}`;
    await redis.xadd(
      'risk_decisions',
      '*',
      'data',
      JSON.stringify(approvedDecision(decisionId)),
    );
    const reports = await untilReported({ redis } as unknown as StackHarness, [decisionId], 120_000);
    expect(reports.get(decisionId)?.status).toBe('filled');
    redis.disconnect();
    redis = undefined;

    const before = descendantsOf(child.pid!);
    // the relay, the stack, the server, the UI, the paper exchange, a worker, a bridge, Redis, PostgreSQL...
    expect(before.length).toBeGreaterThanOrEqual(9);
    process.kill(-child.pid!, 'SIGINT');
    // The bound's timer is cleared once the race is decided: left running, it kept jest's process
    // alive for up to 150 s after the last test (test/stack runs last).
    let bound: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      bound = setTimeout(() => r('timeout'), 150_000);
    });
    const code = await Promise.race([exited, timedOut]).finally(() => clearTimeout(bound));
    expect(code).toBe(0);
    // Helpers (watchdogs) may take a moment after the stack's own exit.
    const leftDeadline = Date.now() + 15_000;
    while (before.some(alive) && Date.now() < leftDeadline) await new Promise((r) => setTimeout(r, 250));
    expect(before.filter(alive).map(commandOf)).toEqual([]);
  } finally {
    redis?.disconnect();
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
