/**
 * Temporal stopped for 30 s in the middle of a stream (the shared dev server, through
 * test/support/services.ts; tests run in band, so nothing else is affected, and it is always
 * started again). The bridge runs in-process here so its log and metrics can be read directly.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client } from '@temporalio/client';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import pino from 'pino';
import { DecisionBridge } from '../../src/bridge/decision-bridge';
import { createPgBridgeRecorder } from '../../src/bridge/pg-recorder';
import { connectBridgeTemporal } from '../../src/bridge/temporal-connection';
import { createPool } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { startTemporal, stopTemporal, testServices, type TestServices } from '../support/services';
import { until } from '../support/streams';
import { approve, groupInfo, pushDecisions, resetStreams, runsById, settledExecutions, sleep, streamSettled } from './support/harness';

const run = randomBytes(3).toString('hex');
let env: TestServices;
let redis: Redis;
let db: FreshDatabase;
let pool: Pool;

beforeAll(async () => {
  env = testServices();
  redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  db = await freshDatabase(env.databaseUrl, 'bridge_outage');
  pool = createPool(db.url);
  await migrate(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  redis?.disconnect();
});

/** A logger whose JSON records are kept in memory. */
function memoryLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), records };
}

async function counter(bridge: DecisionBridge, name: 'started' | 'read'): Promise<number> {
  return (await bridge.metrics[name].get()).values.reduce((a, v) => a + v.value, 0);
}

test('Temporal down for 30 s mid-stream: nothing acknowledged meanwhile, a log line says why, then all start once, in order', async () => {
  await resetStreams(redis);
  const taskQueue = `bridge-outage-${run}`;
  const prefix = `outage-${run}-`;
  const concurrency = 4;
  const ids = Array.from({ length: 200 }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
  const connection = connectBridgeTemporal(env.temporalAddress);
  const client = new Client({ connection, namespace: env.namespace });
  const { logger, records } = memoryLogger();
  const bridge = new DecisionBridge({
    redis,
    temporal: client,
    recorder: createPgBridgeRecorder(pool),
    logger,
    taskQueue,
    consumer: `${prefix}bridge`,
    defaultOrderTimeoutMs: 60_000,
    concurrency,
    batchSize: 50,
    claimIdleMs: 5_000,
    startTimeoutMs: 3_000,
    retryMaxMs: 3_000,
    // About holding the backlog and draining it in order; on a loaded machine the last entries
    // may wait longer than the default 60 s maximum age (bridge-safety.test.ts covers that).
    safety: { maxAgeMs: 10 * 60_000 },
  });
  await bridge.start();
  try {
    const entryIds = await pushDecisions(redis, ids.slice(0, 50).map((id) => approve(id)));
    await until('the first 50 started', async () => (await counter(bridge, 'started')) === 50, 60_000);
    await until('the first 50 acknowledged', () => streamSettled(redis), 10_000);

    let outage: { acked: number; started: number; pendingDuring: number };
    await stopTemporal();
    try {
      const downAt = Date.now();
      // Decisions keep arriving during the outage.
      for (let chunk = 1; chunk <= 3; chunk++) {
        entryIds.push(...(await pushDecisions(redis, ids.slice(chunk * 50, chunk * 50 + 50).map((id) => approve(id)))));
        await sleep(8_000);
      }
      await until('a log line saying Temporal is unreachable', async () =>
        records.some((r) => r.level === 50 && /Temporal at .* is unreachable/.test(String(r.msg))),
      );
      await sleep(Math.max(0, 30_000 - (Date.now() - downAt)));
      const g = await groupInfo(redis);
      outage = { acked: g.entriesRead - g.pending, started: await counter(bridge, 'started'), pendingDuring: g.pending };
    } finally {
      await startTemporal();
    }
    // While Temporal was down: entries were read and held, none acknowledged, none started.
    expect(outage.acked).toBe(50);
    expect(outage.started).toBe(50);
    expect(outage.pendingDuring).toBeGreaterThan(0);
    const line = records.find((r) => r.level === 50 && /unreachable/.test(String(r.msg)))!;
    expect(line.msg).toContain(env.temporalAddress);
    expect(line.msg).toMatch(/UNAVAILABLE/);
    expect(line.dependency).toBe('temporal');

    await until('every entry settled after the outage', () => streamSettled(redis), 120_000);
    const list = await settledExecutions(client, taskQueue, ids.length);
    const runs = runsById(list);
    expect(list).toHaveLength(ids.length);
    expect([...runs.keys()].sort()).toEqual(ids.map((id) => `trade-${id}`));
    expect(await counter(bridge, 'started')).toBe(ids.length);
    expect(records.some((r) => /reachable again/.test(String(r.msg)))).toBe(true);

    // In order: with `concurrency` starts in flight neighbours may swap, but no decision starts
    // before one published 2 × concurrency entries earlier (Temporal's own start times).
    const startOf = new Map(list.map((e) => [e.workflowId, e.startTime.getTime()]));
    const starts = ids.map((id) => startOf.get(`trade-${id}`)!);
    const inversions: string[] = [];
    for (let i = 0; i < starts.length; i++) {
      for (let j = i + 2 * concurrency; j < starts.length; j++) {
        if (starts[j]! < starts[i]!) inversions.push(`${ids[j]} started before ${ids[i]}`);
      }
    }
    expect(inversions.slice(0, 5)).toEqual([]);
    expect(entryIds).toHaveLength(ids.length);
  } finally {
    await bridge.stop();
    await connection.close();
  }
});
