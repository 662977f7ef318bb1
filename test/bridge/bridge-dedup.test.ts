/**
 * Never twice: two bridge processes side by side on one stream, and the Postgres `decisions` row
 * as the second line of defence once Temporal no longer remembers a workflow (retention).
 */
import { randomBytes } from 'node:crypto';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { createLogger } from '../../src/logging';
import { DecisionBridge } from '../../src/bridge/decision-bridge';
import { createPgBridgeRecorder } from '../../src/bridge/pg-recorder';
import { connectBridgeTemporal } from '../../src/bridge/temporal-connection';
import { until } from '../support/streams';
import {
  approve,
  DEAD,
  killAllBridges,
  pending,
  pushDecisions,
  resetStreams,
  runsById,
  scrape,
  settledExecutions,
  sleep,
  spawnBridge,
  startStubWorker,
  streamSettled,
  useBridgeServices,
} from './support/harness';

const run = randomBytes(3).toString('hex');
const s = useBridgeServices('bridge_dedup', { migrated: true });

test('two bridges side by side on one stream: each decision is started once, and both do work', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-pair-${run}`;
  const prefix = `pair-${run}-`;
  const worker = await startStubWorker(s.env.temporalAddress, s.env.namespace, taskQueue);
  const bridgeEnv = { ...s.env, databaseUrl: s.db.url };
  // Takeover only after 30 s: this is about two live bridges sharing, not reclaiming.
  const a = spawnBridge({ consumer: `${prefix}a`, taskQueue, env: bridgeEnv, batchSize: 20, claimIdleMs: 30_000 });
  const b = spawnBridge({ consumer: `${prefix}b`, taskQueue, env: bridgeEnv, batchSize: 20, claimIdleMs: 30_000 });
  try {
    const [urlA, urlB] = await Promise.all([a.ready, b.ready]);
    const ids = Array.from({ length: 300 }, (_, i) => `${prefix}${i}`);
    // In bursts, each decision published twice in a row: the copies usually go to different
    // bridges at the same moment, the race the id reuse policy must settle.
    for (let i = 0; i < ids.length; i += 25) {
      await pushDecisions(s.redis, ids.slice(i, i + 25).flatMap((id) => {
        const d = approve(id); // the same content twice (other content under one id is a conflict)
        return [d, d];
      }));
      await sleep(150);
    }
    await until('every entry settled', () => streamSettled(s.redis), 90_000);
    const list = await settledExecutions(s.temporal.client, taskQueue, ids.length);
    const runs = runsById(list);
    expect(list).toHaveLength(ids.length);
    expect([...runs.keys()].sort()).toEqual(ids.map((id) => `trade-${id}`).sort());
    expect((await pending(s.redis)).total).toBe(0);

    const [readA, readB] = await Promise.all([scrape(urlA, 'bridge_decisions_read_total'), scrape(urlB, 'bridge_decisions_read_total')]);
    const started = (await scrape(urlA, 'bridge_workflows_started_total')) + (await scrape(urlB, 'bridge_workflows_started_total'));
    const dups = (await scrape(urlA, 'bridge_duplicate_decisions_total')) + (await scrape(urlB, 'bridge_duplicate_decisions_total'));
    expect(readA).toBeGreaterThan(0);
    expect(readB).toBeGreaterThan(0);
    expect(readA + readB).toBe(2 * ids.length);
    expect(started).toBe(ids.length);
    expect(dups).toBe(ids.length);
    // The lag gauges are sampled from Redis on scrape.
    expect(await scrape(urlA, 'bridge_stream_length')).toBe(2 * ids.length);
    expect(await scrape(urlA, 'bridge_pending_entries')).toBe(0);
    expect(await scrape(urlA, 'bridge_group_lag')).toBe(0);
    const hist = await (await fetch(urlA)).text();
    expect(hist).toMatch(/bridge_workflow_start_seconds_count \d+/);

    for (const p of [a, b]) p.child.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await b.exited).toEqual({ code: 0, signal: null });
  } finally {
    await killAllBridges();
    await worker.stop();
  }
});

test('past Temporal retention, the decisions row still stops a repeat; conflicting reuses of an id are dead-lettered', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-retention-${run}`;
  const prefix = `ret-${run}-`;
  const connection = connectBridgeTemporal(s.env.temporalAddress);
  const client = new Client({ connection, namespace: s.env.namespace });
  const bridge = new DecisionBridge({
    redis: s.redis,
    temporal: client,
    recorder: createPgBridgeRecorder(s.pool),
    logger: createLogger('bridge-test', 'warn'),
    taskQueue,
    consumer: `${prefix}bridge`,
    defaultOrderTimeoutMs: 60_000,
  });
  await bridge.start();
  const count = async (name: 'started' | 'duplicates' | 'deadLettered' | 'rejected', label?: string) =>
    (await bridge.metrics[name].get()).values.filter((v) => !label || v.labels.detected_by === label).reduce((a, v) => a + v.value, 0);
  try {
    const done = `${prefix}done`;
    const rejected = `${prefix}rejected`;
    const doneDecision = approve(done);
    await pushDecisions(s.redis, [doneDecision, { ...approve(rejected), decision: 'reject', reasons: ['max exposure'] }]);
    await until('settled', () => streamSettled(s.redis));
    const handle = client.workflow.getHandle(`trade-${done}`);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // What retention does to a closed workflow (after 24 h on the dev server): Temporal forgets the
    // id. (Deleting this one while it runs does the same for the bridge and needs no worker.)
    await client.workflowService.deleteWorkflowExecution({ namespace: s.env.namespace, workflowExecution: { workflowId: `trade-${done}` } });
    await until('the workflow is gone from Temporal', async () => {
      try {
        await handle.describe();
        return false;
      } catch (err) {
        return err instanceof WorkflowNotFoundError;
      }
    });

    // The same decision again (same content), an approve reusing the rejected id, and a reject
    // reusing the started one (other content: conflicts).
    await pushDecisions(s.redis, [doneDecision, approve(rejected), { ...doneDecision, decision: 'reject', reasons: ['too late'] }]);
    await until('settled', () => streamSettled(s.redis));
    await sleep(1000);
    await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(client.workflow.getHandle(`trade-${rejected}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await count('started')).toBe(1);
    expect(await count('duplicates', 'postgres')).toBe(1);
    expect(await count('rejected')).toBe(1);
    expect(await count('deadLettered')).toBe(2);

    const rows = await s.pool.query('SELECT decision_id, status, reasons FROM decisions WHERE decision_id = ANY($1) ORDER BY decision_id', [[done, rejected]]);
    expect(rows.rows).toEqual([
      { decision_id: done, status: 'started', reasons: [] },
      { decision_id: rejected, status: 'rejected', reasons: ['max exposure'] },
    ]);
    const dead = (await s.redis.xrange(DEAD, '-', '+')).map(([, f]) => f[f.indexOf('dead_reason') + 1]);
    expect(dead.sort()).toEqual([
      expect.stringMatching(new RegExp(`^conflict: decision_id ${done} was already received with other content \\(that decision is started;.*this reject is not executed$`)),
      expect.stringMatching(new RegExp(`^conflict: decision_id ${rejected} was already received with other content \\(that decision is rejected;.*this approve is not executed$`)),
    ]);
    expect((await pending(s.redis)).total).toBe(0);
  } finally {
    await bridge.stop();
    await connection.close();
  }
});

test('poison guard: an entry that keeps failing while others succeed is dead-lettered (or, once started, acknowledged)', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-poison-${run}`;
  const prefix = `poison-${run}-`;
  const connection = connectBridgeTemporal(s.env.temporalAddress);
  const client = new Client({ connection, namespace: s.env.namespace });
  const real = createPgBridgeRecorder(s.pool);
  const lookups = `${prefix}lookup-fails`;
  const marking = `${prefix}mark-fails`;
  // An error the bridge cannot classify, for two decisions only: everything else works.
  const recorder = {
    ...real,
    async claim(d: Parameters<typeof real.claim>[0], entryId: string) {
      if (d.decision_id === lookups) throw new Error('something nobody foresaw');
      return real.claim(d, entryId);
    },
    async recordStarted(id: string, workflowId: string) {
      if (id === marking) throw new Error('something else nobody foresaw');
      return real.recordStarted(id, workflowId);
    },
  };
  const bridge = new DecisionBridge({
    redis: s.redis,
    temporal: client,
    recorder,
    logger: createLogger('bridge-test', 'fatal'),
    taskQueue,
    consumer: `${prefix}bridge`,
    defaultOrderTimeoutMs: 60_000,
    concurrency: 4,
    retryInitialMs: 20,
  });
  await bridge.start();
  try {
    const others = Array.from({ length: 60 }, (_, i) => `${prefix}ok${i}`);
    await pushDecisions(s.redis, [approve(lookups), approve(marking), ...others.map((id) => approve(id))]);
    await until('settled', () => streamSettled(s.redis), 60_000);
    const list = await settledExecutions(client, taskQueue, others.length + 1);
    expect(list.map((e) => e.workflowId).sort()).toEqual([marking, ...others].map((id) => `trade-${id}`).sort());
    const dead = await s.redis.xrange(DEAD, '-', '+');
    expect(dead).toHaveLength(1);
    const f = dead[0]![1];
    expect(f[f.indexOf('dead_reason') + 1]).toMatch(/^\(entry\): failed 5 times while other entries succeeded, so it is this entry: postgres: .*something nobody foresaw/);
    expect(JSON.parse(f[f.indexOf('data') + 1]!).decision_id).toBe(lookups);
    expect((await pending(s.redis)).total).toBe(0);
  } finally {
    await bridge.stop();
    await connection.close();
  }
});

test('housekeeping: consumers long idle with nothing pending are deleted; one with pending entries is kept', async () => {
  await resetStreams(s.redis);
  const prefix = `house-${run}-`;
  await pushDecisions(s.redis, [approve(`${prefix}held`)]);
  await s.redis.xgroup('CREATE', 'risk_decisions', 'trading-execution', '0', 'MKSTREAM');
  // A dead bridge holding an entry, and one that died with nothing in hand.
  await s.redis.xreadgroup('GROUP', 'trading-execution', `${prefix}dead-holding`, 'COUNT', 1, 'STREAMS', 'risk_decisions', '>');
  await s.redis.xreadgroup('GROUP', 'trading-execution', `${prefix}dead-empty`, 'COUNT', 1, 'STREAMS', 'risk_decisions', '>');
  const connection = connectBridgeTemporal(s.env.temporalAddress);
  const bridge = new DecisionBridge({
    redis: s.redis,
    temporal: new Client({ connection, namespace: s.env.namespace }),
    recorder: createPgBridgeRecorder(s.pool),
    logger: createLogger('bridge-test', 'fatal'),
    taskQueue: `bridge-house-${run}`,
    consumer: `${prefix}live`,
    defaultOrderTimeoutMs: 60_000,
    claimIdleMs: 600_000, // so the held entry stays where it is
    pruneConsumersIdleMs: 1000,
  });
  await bridge.start();
  try {
    const names = async () => ((await s.redis.xinfo('CONSUMERS', 'risk_decisions', 'trading-execution')) as string[][]).map((c) => c[1]).sort();
    // The bridge's own consumer exists once its first XREADGROUP ran, which on a loaded machine
    // can come after the first prune: wait for both, then the dead one with an entry must remain.
    await until(
      'the empty dead consumer is pruned and the bridge has read',
      async () => {
        const now = await names();
        return !now.includes(`${prefix}dead-empty`) && now.includes(`${prefix}live`);
      },
      10_000,
    );
    expect(await names()).toEqual([`${prefix}dead-holding`, `${prefix}live`]);
    expect((await pending(s.redis)).byConsumer).toEqual({ [`${prefix}dead-holding`]: 1 });
  } finally {
    await bridge.stop();
    await connection.close();
  }
});
