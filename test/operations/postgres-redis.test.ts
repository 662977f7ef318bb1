/** The Postgres and Redis launchers, on their own instances (not the suite's). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { canConnect } from '../../src/operations/ports';
import { startEmbeddedPostgres } from '../../src/operations/postgres-server';
import { findRedisServer, startRedisServer } from '../../src/operations/redis-server';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-redis-test-'));
  fs.chmodSync(tmp, 0o755); // the postgres user must be able to enter it when we run as root
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

test('embedded postgres: starts on a free port, stops, and starts again on the same data dir with its data', async () => {
  const dataDir = path.join(tmp, 'pg');
  const pg = await startEmbeddedPostgres({ dataDir, fast: true, database: 'ops_test' });
  expect(pg.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/ops_test$/);
  await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'hello\')');
  expect(await query(pg.url, 'SHOW fsync')).toEqual([{ fsync: 'off' }]);
  await pg.stop();
  expect(await canConnect(pg.port)).toBe(false);
  await pg.stop(); // idempotent

  const again = await startEmbeddedPostgres({ dataDir, database: 'ops_test' });
  try {
    expect(await query(again.url, 'SELECT v FROM kept')).toEqual([{ v: 'hello' }]);
  } finally {
    await again.stop();
  }
});

test('embedded postgres: a data dir the postgres user cannot reach is a clear error (as root)', async () => {
  if (process.getuid?.() !== 0) return;
  const closed = path.join(tmp, 'closed');
  fs.mkdirSync(closed, { mode: 0o700 });
  await expect(startEmbeddedPostgres({ dataDir: path.join(closed, 'pg') })).rejects.toThrow(/cannot enter .*closed.*chmod o\+x/);
});

test('redis-server: starts on a free port, answers, keeps nothing, stops', async () => {
  const redis = await startRedisServer({ dir: tmp });
  expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
  const client = new Redis(redis.url);
  try {
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
  } finally {
    client.disconnect();
  }
  await redis.stop();
  expect(await canConnect(redis.port)).toBe(false);
});

test('redis-server missing: the error says how to install it', async () => {
  expect(() => findRedisServer({ PATH: path.join(tmp, 'nothing-here') })).toThrow(/apt-get install redis-server/);
  await expect(startRedisServer({ redisServerPath: path.join(tmp, 'no-redis-server') })).rejects.toThrow(/cannot start .*no-redis-server/);
});
