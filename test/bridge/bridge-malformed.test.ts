/**
 * 10,000 malformed entries mixed with valid ones, against the bridge process: the valid ones
 * start, every bad one lands in `risk_decisions:dead` (original fields byte for byte, a reason
 * naming the field and the problem, the time), and the process never exits.
 */
import { randomBytes } from 'node:crypto';
import { MAX_DEAD_LETTER_VALUE_BYTES } from '../../src/bridge/dead-letter';
import { until } from '../support/streams';
import { json, malformed, type Bad, type Fields } from './support/malformed';
import {
  approve,
  DEAD,
  killAllBridges,
  pending,
  resetStreams,
  runsById,
  settledExecutions,
  spawnBridge,
  startStubWorker,
  STREAM,
  streamSettled,
  useBridgeServices,
} from './support/harness';

const run = randomBytes(3).toString('hex');
const s = useBridgeServices('bridge_malformed');

test('10,000 malformed entries among valid ones: valid ones start, every bad one is dead-lettered with its reason, the process lives on', async () => {
  await resetStreams(s.redis);
  const taskQueue = `bridge-bad-${run}`;
  const prefix = `bad-${run}-`;

  // Redis itself refuses an entry with an odd number of fields, so no bridge can ever read one
  // (the parser still handles it: entry.test.ts).
  await expect(s.redis.call('XADD', STREAM, '*', 'data', json(approve(`${prefix}odd`)), 'dangling')).rejects.toThrow(/wrong number of arguments/);

  // 10,000 bad entries, a valid one after every 40th; a few bad ones are 2 MB.
  const plan: Array<{ fields: Fields; bad?: Bad }> = [];
  const validIds: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const bad = i % 2000 === 7 ? { kind: '2 MB value', fields: ['data', 'z'.repeat(2 * 1024 * 1024)], reason: /^data: 2097152 bytes is larger/ } : malformed(i, `${prefix}x${i}`);
    plan.push({ fields: bad.fields, bad });
    if (i % 40 === 0) {
      const id = `${prefix}ok${i}`;
      validIds.push(id);
      plan.push({ fields: ['data', json(approve(id, { original_signal: i % 80 === 0 ? 2 : 0 }))] });
    }
  }
  const worker = await startStubWorker(s.env.temporalAddress, s.env.namespace, taskQueue);
  const bridge = spawnBridge({ consumer: `${prefix}bridge`, taskQueue, env: { ...s.env, databaseUrl: s.db.url } });
  try {
    await bridge.ready;
    const entryIds: string[] = [];
    for (let i = 0; i < plan.length; i += 250) {
      const p = s.redis.pipeline();
      for (const e of plan.slice(i, i + 250)) p.xadd(STREAM, '*', ...e.fields);
      for (const [err, id] of (await p.exec())!) {
        if (err) throw err;
        entryIds.push(id as string);
      }
    }
    await until('every entry settled', () => streamSettled(s.redis), 60_000).catch(async (err) => {
      console.log(`group: ${JSON.stringify(await s.redis.xinfo('GROUPS', STREAM))}\nbridge output:\n${bridge.tail(40)}`);
      throw err;
    });
    expect(bridge.isRunning()).toBe(true);

    // Every bad entry is in the dead-letter stream exactly once, with its reason and its fields.
    const expected = new Map<string, Bad>();
    plan.forEach((e, i) => e.bad && expected.set(entryIds[i]!, e.bad));
    const dead = await s.redis.xrangeBuffer(DEAD, '-', '+');
    expect(dead).toHaveLength(expected.size);
    const problems: string[] = [];
    const seen = new Set<string>();
    const originalOf = new Map(plan.map((e, i) => [entryIds[i]!, e.fields]));
    for (const [, f] of dead) {
      const get = (name: string) => {
        for (let i = 0; i < f.length; i += 2) if (f[i]!.toString() === name) return f[i + 1]!.toString();
        return undefined;
      };
      const entryId = get('dead_entry_id')!;
      const bad = expected.get(entryId);
      if (!bad) {
        problems.push(`${entryId}: dead-lettered but not bad`);
        continue;
      }
      if (seen.has(entryId)) problems.push(`${entryId}: dead-lettered twice`);
      seen.add(entryId);
      const reason = get('dead_reason') ?? '';
      if (!bad.reason.test(reason)) problems.push(`${bad.kind}: reason ${JSON.stringify(reason.slice(0, 200))} does not match ${bad.reason}`);
      if (!/^\d{4}-\d\d-\d\dT/.test(get('dead_at') ?? '')) problems.push(`${bad.kind}: no dead_at`);
      // The original fields follow ours, byte for byte (values over 1 MiB cut, and said so).
      const start = f.findIndex((b, i) => i % 2 === 0 && !b.toString().startsWith('dead_'));
      const copied = f.slice(start);
      const original = originalOf.get(entryId)!.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x)));
      const cut = original.map((b) => b.subarray(0, MAX_DEAD_LETTER_VALUE_BYTES));
      if (copied.length !== cut.length || copied.some((b, i) => !b.equals(cut[i]!))) problems.push(`${bad.kind}: original fields not kept`);
      if (original.some((b) => b.length > MAX_DEAD_LETTER_VALUE_BYTES) !== (get('dead_truncated') !== undefined)) {
        problems.push(`${bad.kind}: dead_truncated wrong`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(seen.size).toBe(10_000);

    // Every valid one started, once.
    const list = await settledExecutions(s.temporal.client, taskQueue, validIds.length);
    expect(list).toHaveLength(validIds.length);
    expect([...runsById(list).keys()].sort()).toEqual(validIds.map((id) => `trade-${id}`).sort());

    // Postgres has an 'invalid' row for each bad entry (payloads it cannot store are recorded without).
    // (The row is written right after the acknowledgement, so the last ones may lag a moment.)
    const count = "SELECT count(*)::int AS n, count(*) FILTER (WHERE payload = 'null'::jsonb)::int AS bare FROM decisions WHERE status = 'invalid'";
    await until('an invalid row for each', async () => (await s.pool.query(count)).rows[0].n >= 10_000, 10_000);
    const rows = await s.pool.query(count);
    expect(rows.rows[0].n).toBe(10_000);
    const refused = [...expected.values()].filter((b) => ['nul in reasons', 'lone surrogate', 'deep'].includes(b.kind)).length;
    expect(rows.rows[0].bare).toBeGreaterThanOrEqual(refused);
    expect((await pending(s.redis)).total).toBe(0);
    expect(bridge.isRunning()).toBe(true);
    expect(bridge.logs(/./).filter((r) => r.level === 60)).toEqual([]);
    bridge.child.kill('SIGTERM');
    expect(await bridge.exited).toEqual({ code: 0, signal: null });
  } finally {
    await killAllBridges();
    await worker.stop();
  }
});
