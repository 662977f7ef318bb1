/**
 * Migrations against a real Postgres: idempotent, safe under concurrent workers, each one
 * atomic, and refusing an edited history.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, type Pool } from 'pg';
import { createPool } from '../../src/persistence/db';
import { MIGRATION_LOCK_KEY, loadMigrations, migrate } from '../../src/persistence/migrate';
import { createScratchDatabase, type ScratchDatabase } from './scratch-db';

const scratch: ScratchDatabase[] = [];
const pools: Pool[] = [];
const dirs: string[] = [];

async function freshPool(label: string, max = 4): Promise<{ db: ScratchDatabase; pool: Pool }> {
  const db = await createScratchDatabase(label);
  scratch.push(db);
  const pool = createPool(db.url, { max, applicationName: `migrate-test-${label}` });
  pools.push(pool);
  return { db, pool };
}

function migrationDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'te-migrations-'));
  dirs.push(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

async function tables(pool: Pool): Promise<string[]> {
  const r = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return r.rows.map((row) => row.table_name);
}

async function versions(pool: Pool): Promise<number[]> {
  const r = await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return r.rows.map((row) => row.version);
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await Promise.all(scratch.map((d) => d.drop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the bundled migrations create the schema, and a second run changes nothing', async () => {
  const { pool } = await freshPool('twice');
  const files = (await loadMigrations()).map((m) => m.file);
  expect(files[0]).toBe('001_initial_schema.sql');

  const first = await migrate(pool);
  expect(first.applied).toEqual(files);
  expect(await tables(pool)).toEqual(
    expect.arrayContaining([
      'balance_snapshots',
      'balances',
      'decisions',
      'execution_reports',
      'fills',
      'order_events',
      'orders',
      'positions',
      'reconciliation_runs',
      'schema_migrations',
    ]),
  );
  const second = await migrate(pool);
  expect(second).toEqual({ applied: [], unknownApplied: [] });
  expect(await versions(pool)).toEqual((await loadMigrations()).map((m) => m.version));
});

test('money columns are numeric and timestamps timestamptz', async () => {
  const { pool } = await freshPool('types');
  await migrate(pool);
  const r = await pool.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'`,
  );
  const types = new Set(r.rows.map((c) => c.data_type));
  expect(types.has('real')).toBe(false);
  expect(types.has('double precision')).toBe(false);
  expect(types.has('timestamp without time zone')).toBe(false);
  const typeOf = (t: string, c: string) => r.rows.find((x) => x.table_name === t && x.column_name === c)?.data_type;
  expect(typeOf('fills', 'price')).toBe('numeric');
  expect(typeOf('fills', 'trade_id')).toBe('bigint');
  expect(typeOf('positions', 'realized_pnl')).toBe('numeric');
  expect(typeOf('orders', 'cummulative_quote_qty')).toBe('numeric');
});

test('concurrent migrate calls from separate pools apply each migration exactly once', async () => {
  const { db } = await freshPool('concurrent', 1);
  const workers = Array.from({ length: 6 }, (_, i) => {
    const p = createPool(db.url, { max: 1, applicationName: `migrate-worker-${i}` });
    pools.push(p);
    return p;
  });
  const results = await Promise.all(workers.map((p) => migrate(p)));
  const files = (await loadMigrations()).map((m) => m.file);
  // Each file applied by exactly one worker; the others found it done.
  expect(results.flatMap((r) => r.applied).sort()).toEqual([...files].sort());
  expect(await versions(workers[0]!)).toEqual((await loadMigrations()).map((m) => m.version));
});

test('a failing migration rolls back entirely and leaves the earlier ones applied', async () => {
  const { pool } = await freshPool('failing');
  const dir = migrationDir({
    '001_a.sql': 'CREATE TABLE a (id int);',
    // The first statement succeeds inside the transaction, the second fails: neither may stay.
    '002_b.sql': 'CREATE TABLE b (id int); INSERT INTO a VALUES (1); SELECT 1 / 0;',
  });
  await expect(migrate(pool, { dir })).rejects.toThrow(/migration 002_b\.sql failed and was rolled back: division by zero/);
  expect(await tables(pool)).toEqual(['a', 'schema_migrations']);
  expect((await pool.query('SELECT count(*)::int AS n FROM a')).rows[0]).toEqual({ n: 0 });
  expect(await versions(pool)).toEqual([1]);

  // Fixed, it applies on the next start.
  writeFileSync(path.join(dir, '002_b.sql'), 'CREATE TABLE b (id int);');
  expect((await migrate(pool, { dir })).applied).toEqual(['002_b.sql']);
  expect(await versions(pool)).toEqual([1, 2]);
});

test('an applied migration that was edited afterwards stops start-up', async () => {
  const { pool } = await freshPool('edited');
  const dir = migrationDir({ '001_a.sql': 'CREATE TABLE a (id int);' });
  await migrate(pool, { dir });
  writeFileSync(path.join(dir, '001_a.sql'), 'CREATE TABLE a (id bigint);');
  await expect(migrate(pool, { dir })).rejects.toThrow(/migration 001_a\.sql was changed after it was applied/);
});

test('a database that ran 010 as it shipped with the backfill inside (9d78924) still starts, and gets 031', async () => {
  const { pool } = await freshPool('shipped010');
  const bundled = await loadMigrations();
  const backfill = [
    '',
    '-- Orders recorded before this table existed may have been sent: a reset of such a workflow to',
    '-- before its submission must settle them too, so each gets a row whose window has long passed.',
    'INSERT INTO order_sends (intent_id, acceptable_until, first_sent_at, last_sent_at)',
    "SELECT client_order_id, updated_at + interval '1 minute', created_at, updated_at FROM orders",
    'ON CONFLICT (intent_id) DO NOTHING;',
    '',
  ].join('\n');
  const files = Object.fromEntries(bundled.filter((m) => m.version <= 10).map((m) => [m.file, m.file === '010_order_sends.sql' ? m.sql + backfill : m.sql]));
  const shipped = createHash('sha256').update(files['010_order_sends.sql']!).digest('hex');
  expect(shipped).toBe('9f203a774e845c7ac6ce0022596e57b3a362c2c31536ebadc56d3abbc4bdfe08');
  await migrate(pool, { dir: migrationDir(files) });
  const later = await migrate(pool);
  expect(later.applied).toEqual(bundled.filter((m) => m.version > 10).map((m) => m.file));
});

test('migrations unknown to this release are reported, not fatal', async () => {
  const { pool } = await freshPool('newer');
  const dir = migrationDir({ '001_a.sql': 'CREATE TABLE a (id int);', '002_b.sql': 'CREATE TABLE b (id int);' });
  await migrate(pool, { dir });
  rmSync(path.join(dir, '002_b.sql'));
  expect(await migrate(pool, { dir })).toEqual({ applied: [], unknownApplied: [2] });
});

test('badly named or duplicate-version files are refused before touching the database', async () => {
  await expect(loadMigrations(migrationDir({ '1_a.sql': 'SELECT 1;' }))).rejects.toThrow(/not named NNN_lower_case_name/);
  await expect(
    loadMigrations(migrationDir({ '001_a.sql': 'SELECT 1;', '001_b.sql': 'SELECT 1;' })),
  ).rejects.toThrow(/two migrations share version 1/);
});

test('gives up with a clear error when another session holds the migration lock too long', async () => {
  const { db, pool } = await freshPool('locked');
  const holder = new Client({ connectionString: db.url });
  await holder.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await expect(migrate(pool, { lockTimeoutMs: 200 })).rejects.toThrow(/could not take the migration lock within 200 ms/);
    expect(await tables(pool)).toEqual([]);
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    // Once released, migration proceeds; the failed attempt left no stuck session behind.
    expect((await migrate(pool)).applied.length).toBeGreaterThan(0);
  } finally {
    await holder.end();
  }
});
