/**
 * Servers never outlive their parent: a real Node process starts a managed `sleep` and then
 * exits, is SIGTERMed, SIGINTed or SIGKILLed; the `sleep` must be gone shortly after.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { hostProcess, sharedState, sleep, spawnManaged } from '../../src/operations/child-process';
import { alive } from './support/processes';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'child-process-test-'));
  fs.writeFileSync(
    path.join(tmp, 'parent.ts'),
    `import { spawnManaged } from ${JSON.stringify(path.resolve(__dirname, '../../src/operations/child-process'))};
const mode = process.argv[2];
void (async () => {
  const p = await spawnManaged('sleep', ['1000'], { name: 'sleeper' });
  console.log(p.pid);
  if (mode === 'exit') process.exit(0);
  if (mode === 'throw') throw new Error('crash');
  setInterval(() => undefined, 1000); // wait to be signalled
})();
`,
  );
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return !alive(pid);
}

async function runParent(mode: string): Promise<{ parentPid: number; childPid: number; parentExit: Promise<void> }> {
  const parent = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(tmp, 'parent.ts'), mode], {
    cwd: path.resolve(__dirname, '../..'),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const parentExit = new Promise<void>((r) => parent.once('exit', () => r()));
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: parent.stdout! }).once('line', resolve);
    parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
  });
  return { parentPid: parent.pid!, childPid: Number(line), parentExit };
}

test.each([
  ['exit', undefined, 3000],
  ['throw', undefined, 3000],
  ['signal', 'SIGTERM', 3000],
  ['signal', 'SIGINT', 3000],
  // No hook runs on SIGKILL: the watchdog notices the closed pipe.
  ['signal', 'SIGKILL', 8000],
] as const)('parent %s %s: the managed process goes too', async (mode, signal, withinMs) => {
  const { parentPid, childPid, parentExit } = await runParent(mode);
  if (signal) process.kill(parentPid, signal);
  await parentExit;
  expect(await gone(childPid, withinMs)).toBe(true);
});

test('stop() ends the process group; exit info and output are kept', async () => {
  const p = await spawnManaged('sh', ['-c', 'echo hello; sleep 1000 & sleep 1000'], { name: 'group' });
  await sleep(200);
  expect(sharedState().live.size).toBeGreaterThan(0);
  const info = await p.stop();
  expect(info.signal).toBe('SIGTERM');
  expect(p.recentOutput()).toBe('hello');
  // The backgrounded grandchild was in the same group and is gone too.
  await sleep(100);
  expect(groupMembers(p.pid)).toEqual([]);
});

/** Live (non-zombie) pids whose process group is pgid. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

test('hooks live on the host process, not on jest’s copy', () => {
  expect(hostProcess()).not.toBe(process);
  expect(typeof hostProcess().pid).toBe('number');
});
