/**
 * The bridge process (src/bridge/main.ts, spawned as operators run it) killed at any instant:
 * SIGKILL at random moments while decisions arrive, and SIGTERM for a clean stop. Real Redis,
 * Postgres and Temporal dev server; a stub worker closes the workflows at once, so that a decision
 * started a second time would show up as a second run of its workflow id.
 */
import { randomBytes } from 'node:crypto';
import { until } from '../support/streams';
import {
  approve,
  groupInfo,
  killAllBridges,
  pending,
  pushDecisions,
  resetStreams,
  runsById,
  settledExecutions,
  sleep,
  spawnBridge,
  startStubWorker,
  streamSettled,
  useBridgeServices,
  type BridgeProcess,
} from './support/harness';

const run = randomBytes(3).toString('hex');
const s = useBridgeServices('bridge_crash');

afterEach(async () => {
  await killAllBridges();
});

const bridgeEnv = () => ({ temporalAddress: s.env.temporalAddress, redisUrl: s.env.redisUrl, databaseUrl: s.db.url, namespace: s.env.namespace });

async function startedRows(prefix: string): Promise<number> {
  const r = await s.pool.query("SELECT count(*)::int AS n FROM decisions WHERE decision_id LIKE $1 AND status = 'started'", [`${prefix}%`]);
  return r.rows[0].n as number;
}

test('SIGKILL at random instants while 1,000 decisions arrive: each is started exactly once, nothing stays pending', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-kill-${run}`;
  const prefix = `kill-${run}-`;
  const worker = await startStubWorker(s.env.temporalAddress, s.env.namespace, taskQueue);
  try {
    const ids = Array.from({ length: 1000 }, (_, i) => `${prefix}${i}`);
    // Every tenth decision is published twice (upstream retried), the copy 37 entries later.
    const entries: Array<Record<string, unknown>> = [];
    ids.forEach((id, i) => {
      entries.push(approve(id));
      // The very same content (other content under a known id would be a conflict).
      if (i >= 37 && (i - 37) % 10 === 0) entries.push(entries.find((e) => e.decision_id === ids[i - 37])!);
    });

    let pushed = false;
    const pushing = (async () => {
      for (let i = 0; i < entries.length; i += 25) {
        await pushDecisions(s.redis, entries.slice(i, i + 25));
        await sleep(180);
      }
      pushed = true;
    })();

    // Lives alternate between one fixed consumer name (a restarted pod: its own pending entries
    // are resumed) and fresh names (a replaced pod: what the dead one held is taken over with
    // XAUTOCLAIM once idle for 1 s).
    let lives = 0;
    let kills = 0;
    let pendingAtKills = 0;
    const spawnLife = (): BridgeProcess =>
      spawnBridge({ consumer: lives % 2 === 0 ? `${prefix}fixed` : `${prefix}life${lives}`, taskQueue, env: bridgeEnv() });
    let current = spawnLife();
    const startups: number[] = [];
    // At least five kills, and on until everything is published.
    while (kills < 5 || !pushed) {
      const spawnedAt = Date.now();
      if (kills % 4 === 3) {
        await sleep(200 + Math.random() * 1500); // sometimes while it is still starting up
      } else {
        await current.ready;
        startups.push(Date.now() - spawnedAt);
        await sleep(100 + Math.random() * 1200);
      }
      current.child.kill('SIGKILL');
      await current.exited;
      kills++;
      pendingAtKills += (await pending(s.redis)).total;
      lives++;
      current = spawnLife();
    }
    await pushing;
    await current.ready;

    await until('every entry settled', () => streamSettled(s.redis), 90_000);
    const list = await settledExecutions(s.temporal.client, taskQueue, ids.length, 60_000);
    const runs = runsById(list);
    expect([...runs.keys()].sort()).toEqual(ids.map((id) => `trade-${id}`).sort());
    expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);
    expect(list).toHaveLength(1000);
    expect((await pending(s.redis)).total).toBe(0);
    expect(await startedRows(prefix)).toBe(1000);
    // The test exercised what it claims to: several kills, some with entries in hand.
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(pendingAtKills).toBeGreaterThan(0);
    console.log(`kill test: ${kills} SIGKILLs, ${pendingAtKills} entries pending summed over the kills, startup to ready ${startups.join(', ')} ms`);

    current.child.kill('SIGTERM');
    expect(await current.exited).toEqual({ code: 0, signal: null });
  } finally {
    await worker.stop();
  }
}, 240_000);

test('SIGTERM: what was read is started and acknowledged, then the process exits 0; another bridge does the rest', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-term-${run}`;
  const prefix = `term-${run}-`;
  const ids = Array.from({ length: 400 }, (_, i) => `${prefix}${i}`);
  await pushDecisions(s.redis, ids.map((id) => approve(id)));

  const first = spawnBridge({ consumer: `${prefix}a`, taskQueue, env: bridgeEnv(), keepLogs: /process exiting/ });
  await first.ready;
  await until("some decisions started", async () => (await startedRows(prefix)) >= 50, 60_000);
  first.child.kill('SIGTERM');
  expect(await first.exited).toEqual({ code: 0, signal: null });
  expect(first.logs('bridge process exiting')).toHaveLength(1);

  // Nothing it read is left pending, and exactly what it read was started: the first k entries.
  const g = await groupInfo(s.redis);
  expect(g.pending).toBe(0);
  expect(g.entriesRead).toBeGreaterThan(0);
  expect(g.entriesRead).toBeLessThan(ids.length); // it was stopped mid-backlog
  const firstK = await settledExecutions(s.temporal.client, taskQueue, g.entriesRead);
  expect(firstK.map((e) => e.workflowId).sort()).toEqual(ids.slice(0, g.entriesRead).map((id) => `trade-${id}`).sort());

  const second = spawnBridge({ consumer: `${prefix}b`, taskQueue, env: bridgeEnv() });
  await second.ready;
  await until('every entry settled', () => streamSettled(s.redis), 60_000);
  const all = await settledExecutions(s.temporal.client, taskQueue, ids.length);
  expect(all).toHaveLength(ids.length);
  expect(runsById(all).size).toBe(ids.length);
  second.child.kill('SIGINT');
  expect(await second.exited).toEqual({ code: 0, signal: null });
  expect((await pending(s.redis)).total).toBe(0);
});
