/**
 * Decisions that must not execute (issue 16): stale ones and ones from the future, a decision id
 * reused for other content, unsigned or badly signed entries when a signing key is configured,
 * and everything while trading is halted. Each is dead-lettered with its rule, recorded in
 * `decisions` with `refused_rule`, counted and alerted, and never started.
 */
import { randomBytes } from 'node:crypto';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { readAlerts } from '../../src/alerts/alerts';
import { DecisionBridge } from '../../src/bridge/decision-bridge';
import { contentHashOf, signDecisionData, type IntakeSafetyOptions } from '../../src/bridge/intake-safety';
import { createPgBridgeRecorder } from '../../src/bridge/pg-recorder';
import { connectBridgeTemporal } from '../../src/bridge/temporal-connection';
import { createLogger } from '../../src/logging';
import { createPool } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { RiskDecisionSchema } from '../../src/shared/decision';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices, type TestServices } from '../support/services';
import { until } from '../support/streams';
import { approve, DEAD, killAllBridges, pending, pushDecisions, resetStreams, scrape, sleep, spawnBridge, STREAM, streamSettled } from './support/harness';

const run = randomBytes(3).toString('hex');
const MINUTE = 60_000;
let env: TestServices;
let redis: Redis;
let db: FreshDatabase;
let pool: Pool;
let connection: ReturnType<typeof connectBridgeTemporal>;
let client: Client;

beforeAll(async () => {
  env = testServices();
  redis = new Redis(env.redisUrl);
  db = await freshDatabase(env.databaseUrl, 'bridge_safety');
  pool = createPool(db.url);
  await migrate(pool);
  connection = connectBridgeTemporal(env.temporalAddress);
  client = new Client({ connection, namespace: env.namespace });
});

afterAll(async () => {
  await killAllBridges();
  await connection?.close();
  await pool?.end();
  await db?.drop();
  redis?.disconnect();
});

beforeEach(async () => {
  await resetStreams(redis);
  await redis.del('alerts', ...(await redis.keys('alerts:cooldown:*')));
});

async function startBridge(name: string, safety?: IntakeSafetyOptions): Promise<DecisionBridge> {
  const bridge = new DecisionBridge({
    redis,
    temporal: client,
    recorder: createPgBridgeRecorder(pool),
    logger: createLogger('bridge-test', 'fatal'),
    taskQueue: `bridge-safety-${name}-${run}`,
    consumer: `safety-${name}-${run}`,
    defaultOrderTimeoutMs: 60_000,
    ...(safety ? { safety } : {}),
  });
  await bridge.start();
  return bridge;
}

async function deadLetters(): Promise<Array<Record<string, string>>> {
  return (await redis.xrange(DEAD, '-', '+')).map(([, f]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i + 1 < f.length; i += 2) o[f[i]!] ??= f[i + 1]!;
    return o;
  });
}

async function exists(decisionId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(`trade-${decisionId}`).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

async function row(decisionId: string): Promise<{ status: string; refused_rule: string | null; reasons: string[]; content_hash: string | null } | undefined> {
  const r = await pool.query('SELECT status, refused_rule, reasons, content_hash FROM decisions WHERE decision_id = $1', [decisionId]);
  return r.rows[0];
}

const refusedCount = async (bridge: DecisionBridge, rule: string) =>
  (await bridge.metrics.refused.get()).values.filter((v) => v.labels.rule === rule).reduce((a, v) => a + v.value, 0);

test('stale: a 10-minute-old MARKET decision is dead-lettered `expired` and never started; a decision from the future too', async () => {
  const bridge = await startBridge('age');
  const p = `age-${run}-`;
  try {
    const now = Date.now();
    await pushDecisions(redis, [
      approve(`${p}old-market`, { timestamp: now - 10 * MINUTE }),
      // A resting order may be older (DECISION_MAX_AGE_RESTING_MS, 5 min by default) ...
      approve(`${p}recent-limit`, { timestamp: now - 2 * MINUTE, order_type: 'LIMIT', limit_price: '20000' }),
      // ... a MARKET one not (DECISION_MAX_AGE_MS, 60 s by default).
      approve(`${p}recent-market`, { timestamp: now - 2 * MINUTE }),
      approve(`${p}future`, { timestamp: now + 10 * MINUTE }),
      approve(`${p}fresh`),
    ]);
    await until('settled', () => streamSettled(redis));

    const dead = await deadLetters();
    expect(dead.map((d) => [d.dead_rule, JSON.parse(d.data!).decision_id]).sort()).toEqual(
      [
        ['expired', `${p}old-market`],
        ['expired', `${p}recent-market`],
        ['future', `${p}future`],
      ].sort(),
    );
    const old = dead.find((d) => d.data!.includes(`${p}old-market`))!;
    expect(old.dead_reason).toMatch(/^expired: timestamp \d+ \(.+\) is \d+ ms old, older than DECISION_MAX_AGE_MS=60000 for a MARKET order/);
    expect(dead.find((d) => d.dead_rule === 'future')!.dead_reason).toMatch(/ahead of this host's clock, more than DECISION_CLOCK_SKEW_MS=5000/);

    expect(await exists(`${p}old-market`)).toBe(false);
    expect(await exists(`${p}recent-market`)).toBe(false);
    expect(await exists(`${p}future`)).toBe(false);
    expect(await exists(`${p}recent-limit`)).toBe(true);
    expect(await exists(`${p}fresh`)).toBe(true);

    expect(await row(`${p}old-market`)).toEqual({
      status: 'invalid',
      refused_rule: 'expired',
      reasons: [old.dead_reason],
      content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect((await row(`${p}future`))?.refused_rule).toBe('future');
    expect((await row(`${p}fresh`))?.status).toBe('started');

    expect(await refusedCount(bridge, 'expired')).toBe(2);
    expect(await refusedCount(bridge, 'future')).toBe(1);
    const alerts = await until('the refusal alerts', async () => {
      const a = (await readAlerts(redis)).filter((x) => x.kind === 'decision_refused');
      return a.length >= 2 ? a : undefined;
    });
    expect(alerts.map((a) => a.detail.rule).sort()).toEqual(['expired', 'future']);
    expect(alerts.find((a) => a.detail.rule === 'expired')!.severity).toBe('warning');
    expect((await pending(redis)).total).toBe(0);
  } finally {
    await bridge.stop();
  }
});

test('stale after an outage: a decision recorded `received` (its start failed) but now too old is refused, its own row marked', async () => {
  const bridge = await startBridge('received');
  const id = `received-${run}`;
  try {
    // What a bridge leaves behind when Temporal was down: the row written, the start never made.
    const decision = approve(id, { timestamp: Date.now() - 10 * MINUTE });
    const parsed = RiskDecisionSchema.parse(decision);
    await createPgBridgeRecorder(pool).claim(parsed, '1-0');
    expect((await row(id))?.status).toBe('received');
    await pushDecisions(redis, [decision]);
    await until('settled', () => streamSettled(redis));
    expect(await exists(id)).toBe(false);
    expect(await row(id)).toEqual(expect.objectContaining({ status: 'invalid', refused_rule: 'expired', content_hash: contentHashOf(parsed) }));
    expect((await deadLetters()).map((d) => d.dead_rule)).toEqual(['expired']);
  } finally {
    await bridge.stop();
  }
});

test('same id: identical content is a duplicate, other content is dead-lettered `conflict` and alerted, never silently dropped', async () => {
  const bridge = await startBridge('conflict');
  const id = `conflict-${run}`;
  const rejected = `conflict-rejected-${run}`;
  try {
    const original = approve(id, { approved_size: '0.001' });
    await pushDecisions(redis, [original, { ...approve(rejected), decision: 'reject', reasons: ['max exposure'] }]);
    await until('settled', () => streamSettled(redis));
    expect(await exists(id)).toBe(true);

    // The same decision again, spelled differently (key order, a number for a decimal string):
    // same canonical content, so a duplicate.
    const reordered = Object.fromEntries(Object.entries({ ...original, approved_size: 0.001 }).reverse());
    await redis.xadd(STREAM, '*', 'data', JSON.stringify(reordered, null, 1));
    // Other content under the same ids: a larger size; an approve for a rejected id; a reject for a started one.
    await pushDecisions(redis, [
      { ...original, approved_size: '5' },
      approve(rejected),
      { ...original, decision: 'reject', reasons: ['too late'] },
    ]);
    await until('settled', () => streamSettled(redis));
    await sleep(500);

    const dead = await deadLetters();
    expect(dead.map((d) => d.dead_rule)).toEqual(['conflict', 'conflict', 'conflict']);
    // Settled side by side, so in any order.
    expect(dead).toHaveLength(3);
    expect(dead.map((d) => d.dead_reason)).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^conflict: decision_id ${id} was already received with other content \\(that decision is started; .*\\); this approve is not executed$`)),
      expect.stringMatching(new RegExp(`^conflict: decision_id ${id} was already received with other content \\(that decision is started; .*\\); this reject is not executed$`)),
      expect.stringMatching(new RegExp(`^conflict: decision_id ${rejected} was already received with other content \\(that decision is rejected;`)),
    ]));
    expect(await exists(rejected)).toBe(false);
    expect((await bridge.metrics.duplicates.get()).values.reduce((a, v) => a + v.value, 0)).toBe(1);
    expect(await refusedCount(bridge, 'conflict')).toBe(3);

    // The original rows are untouched; each conflicting entry has a row of its own.
    expect(await row(id)).toEqual(expect.objectContaining({ status: 'started', refused_rule: null }));
    expect(await row(rejected)).toEqual(expect.objectContaining({ status: 'rejected', refused_rule: null }));
    const refused = await pool.query(`SELECT decision_id, approved_size::text AS size FROM decisions WHERE refused_rule = 'conflict' ORDER BY decision_id`);
    expect(refused.rows.map((r) => r.decision_id)).toEqual(dead.map((d) => `entry:${d.dead_entry_id}`).sort());
    expect(refused.rows.map((r) => r.size)).toContain('5');

    const alerts = await until('the conflict alert', async () => {
      const a = (await readAlerts(redis)).filter((x) => x.kind === 'decision_refused' && x.detail.rule === 'conflict');
      return a.length ? a : undefined;
    });
    expect(alerts[0]!.severity).toBe('critical');
  } finally {
    await bridge.stop();
  }
});

test('signed decisions: with DECISION_SIGNING_KEY a bridge process refuses unsigned and badly signed entries as `unauthenticated`, never logs the key', async () => {
  const key = `test-signing-key-${randomBytes(16).toString('hex')}`;
  const taskQueue = `bridge-safety-signed-${run}`;
  const p = `signed-${run}-`;
  const bridge = spawnBridge({ consumer: `${p}bridge`, taskQueue, env: { ...env, databaseUrl: db.url }, extraEnv: { DECISION_SIGNING_KEY: key } });
  try {
    const metricsUrl = await bridge.ready;
    const data = (d: Record<string, unknown>) => JSON.stringify(d);
    const good = data(approve(`${p}good`));
    const unsigned = data(approve(`${p}unsigned`));
    const wrongKey = data(approve(`${p}wrong-key`));
    const tampered = data(approve(`${p}tampered`));
    const twice = data(approve(`${p}twice`));
    await redis.xadd(STREAM, '*', 'data', good, 'sig', signDecisionData(good, key));
    await redis.xadd(STREAM, '*', 'data', unsigned);
    await redis.xadd(STREAM, '*', 'data', wrongKey, 'sig', signDecisionData(wrongKey, `${key}x`));
    // Signed, then changed: the signature covers the data field byte for byte.
    await redis.xadd(STREAM, '*', 'data', tampered.replace('"0.001"', '"0.002"'), 'sig', signDecisionData(tampered, key));
    await redis.xadd(STREAM, '*', 'data', twice, 'sig', signDecisionData(twice, key), 'sig', signDecisionData(twice, key));
    await until('settled', () => streamSettled(redis));

    expect(await exists(`${p}good`)).toBe(true);
    const dead = (await deadLetters()).sort((a, b) => (a.dead_entry_id! < b.dead_entry_id! ? -1 : 1));
    expect(dead.map((d) => [JSON.parse(d.data!).decision_id, d.dead_rule])).toEqual([
      [`${p}unsigned`, 'unauthenticated'],
      [`${p}wrong-key`, 'unauthenticated'],
      [`${p}tampered`, 'unauthenticated'],
      [`${p}twice`, 'unauthenticated'],
    ]);
    expect(dead.map((d) => d.dead_reason)).toEqual([
      'unauthenticated: the entry has no sig field (DECISION_SIGNING_KEY is set); not executed',
      expect.stringContaining('sig does not match the data field'),
      expect.stringContaining('sig does not match the data field'),
      'unauthenticated: the entry has 2 sig fields (DECISION_SIGNING_KEY is set); not executed',
    ]);
    for (const id of ['unsigned', 'wrong-key', 'tampered', 'twice']) {
      expect(await exists(`${p}${id}`)).toBe(false);
      expect((await row(`${p}${id}`))?.refused_rule).toBe('unauthenticated');
    }
    expect(await scrape(metricsUrl, 'bridge_refused_decisions_total')).toBe(4);

    // An unsigned copy of a decision does not take its id: the signed original still executes.
    const later = data(approve(`${p}later`));
    await redis.xadd(STREAM, '*', 'data', later);
    await redis.xadd(STREAM, '*', 'data', later, 'sig', signDecisionData(later, key));
    await until('settled', () => streamSettled(redis));
    expect(await exists(`${p}later`)).toBe(true);
    expect((await row(`${p}later`))?.status).toBe('started');

    bridge.child.kill('SIGTERM');
    await bridge.exited;
    expect(bridge.tail(400)).not.toContain(key);
    expect(bridge.tail(400)).toContain('"signedDecisionsOnly":true');
  } finally {
    await killAllBridges();
  }
});

test('halted: new decisions are recorded and refused `halted`, rejections still recorded; after resume they start again', async () => {
  const bridge = await startBridge('halt');
  const p = `halt-${run}-`;
  try {
    await pool.query(`UPDATE trading_halt SET halted = true, reason = 'test: exchange incident', changed_by = 'test', changed_at = now()`);
    await pushDecisions(redis, [approve(`${p}during`), { ...approve(`${p}rejected`), decision: 'reject', reasons: ['risk said no'] }]);
    await until('settled', () => streamSettled(redis));
    expect(await exists(`${p}during`)).toBe(false);
    const dead = await deadLetters();
    expect(dead.map((d) => d.dead_rule)).toEqual(['halted']);
    expect(dead[0]!.dead_reason).toBe('halted: trading is halted (test: exchange incident); run `trade-exec resume` to trade again; not executed');
    expect(await row(`${p}during`)).toEqual(expect.objectContaining({ status: 'invalid', refused_rule: 'halted' }));
    expect((await row(`${p}rejected`))?.status).toBe('rejected');

    await pool.query(`UPDATE trading_halt SET halted = false, reason = NULL, changed_at = now()`);
    // Replaying the refused entry after the resume executes it: its row gave way.
    await redis.xadd(STREAM, '*', 'data', dead[0]!.data!);
    await pushDecisions(redis, [approve(`${p}after`)]);
    await until('settled', () => streamSettled(redis));
    expect(await exists(`${p}after`)).toBe(true);
    expect(await exists(`${p}during`)).toBe(true);
    expect((await row(`${p}during`))?.status).toBe('started');
    expect(await refusedCount(bridge, 'halted')).toBe(1);
  } finally {
    await bridge.stop();
  }
});
