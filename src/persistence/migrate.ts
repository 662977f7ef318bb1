/**
 * Versioned SQL migrations, applied at start-up by every worker: `await migrate(pool)`.
 *
 * - Files are `migrations/NNN_name.sql`, applied in version order, each in its own
 *   transaction together with its `schema_migrations` row, so a failing migration leaves
 *   neither its changes nor its row behind.
 * - A session-level advisory lock serialises concurrent workers: the first applies, the
 *   others wait and then find nothing to do.
 * - The sha-256 of every applied file is recorded; if an applied file has since been edited
 *   start-up fails, because the database no longer matches what the code believes it is.
 * - A migration recorded in the database but unknown to this code (a newer release ran
 *   first, e.g. mid rolling deploy) is reported, not treated as an error.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { Logger } from '../logging';
import { checkout } from './db';

/** Arbitrary fixed key ("trdexmig" in ASCII); unique to this service's migrations. */
export const MIGRATION_LOCK_KEY = '8390879442719566183';

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface MigrateOptions {
  /** Directory of NNN_name.sql files (default: the bundled migrations). */
  dir?: string;
  /** Give up waiting for another worker's migration lock after this long (default 120 s). */
  lockTimeoutMs?: number;
  logger?: Logger;
}

export interface MigrateResult {
  /** Files applied by this call, in order. */
  applied: string[];
  /** Versions recorded in the database that this code does not know. */
  unknownApplied: number[];
}

/**
 * Applied files that shipped once in another form which leaves the same database behind, by the
 * sha-256 of that form. `010_order_sends.sql` carried the backfill of 031 for one release
 * (`9d78924`); a database that ran it has what 010 and 031 give, and 031 is idempotent.
 */
const SHIPPED_EARLIER_FORMS: Readonly<Record<string, readonly string[]>> = {
  '010_order_sends.sql': ['9f203a774e845c7ac6ce0022596e57b3a362c2c31536ebadc56d3abbc4bdfe08'],
};

const FILE_NAME = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/**
 * tsc does not copy .sql files into dist/, so a compiled build falls back to the sources.
 * (Running with tsx or ts-jest uses the first candidate.)
 */
export function defaultMigrationsDir(): string {
  const candidates = [
    path.join(__dirname, 'migrations'),
    path.resolve(__dirname, '..', '..', '..', 'src', 'persistence', 'migrations'),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`migrations directory not found; looked in ${candidates.join(', ')}`);
  return found;
}

export async function loadMigrations(dir: string = defaultMigrationsDir()): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of names) {
    const m = FILE_NAME.exec(file);
    if (!m || m[1] === undefined || m[2] === undefined) {
      throw new Error(`migration file ${file} is not named NNN_lower_case_name.sql`);
    }
    const sql = await readFile(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(m[1]),
      name: m[2],
      file,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const prev = migrations[i - 1];
    const cur = migrations[i];
    if (prev && cur && prev.version === cur.version) {
      throw new Error(`two migrations share version ${cur.version}: ${prev.file} and ${cur.file}`);
    }
  }
  return migrations;
}

const AppliedRow = z.object({ version: z.number().int(), name: z.string(), checksum: z.string() });

export async function migrate(pool: Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await loadMigrations(options.dir);
  const lockTimeoutMs = options.lockTimeoutMs ?? 120_000;
  const { client, release } = await checkout(pool);
  // Any failure leaves the session in an unknown state (held lock, changed settings, aborted
  // transaction); destroying the connection releases all of it server-side.
  let failure: Error | undefined;
  try {
    // lock_timeout bounds the wait for the advisory lock; it is reset before any migration
    // runs so DDL is not subject to it.
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${lockTimeoutMs}ms`]);
    try {
      await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    } catch (err) {
      throw new Error(
        `could not take the migration lock within ${lockTimeoutMs} ms (another worker is migrating?): ${errorMessage(err)}`,
      );
    }
    await client.query('RESET lock_timeout');
    // Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can still collide.
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     integer PRIMARY KEY,
        name        text NOT NULL,
        checksum    text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
    const appliedRows = z
      .array(AppliedRow)
      .parse((await client.query('SELECT version, name, checksum FROM schema_migrations ORDER BY version')).rows);
    const applied = new Map(appliedRows.map((r) => [r.version, r]));

    for (const m of migrations) {
      const row = applied.get(m.version);
      if (row && row.checksum !== m.checksum && !SHIPPED_EARLIER_FORMS[m.file]?.includes(row.checksum)) {
        throw new Error(
          `migration ${m.file} was changed after it was applied (checksum ${row.checksum.slice(0, 12)}… in the database, ` +
            `${m.checksum.slice(0, 12)}… on disk); add a new migration instead of editing an applied one`,
        );
      }
    }
    const known = new Set(migrations.map((m) => m.version));
    const unknownApplied = appliedRows.map((r) => r.version).filter((v) => !known.has(v));
    if (unknownApplied.length > 0) {
      options.logger?.warn({ unknownApplied }, 'database has migrations this release does not know (newer release?)');
    }

    const done: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`migration ${m.file} failed and was rolled back: ${errorMessage(err)}`);
      }
      options.logger?.info({ migration: m.file }, 'migration applied');
      done.push(m.file);
    }

    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    return { applied: done, unknownApplied };
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    release(failure);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
