/**
 * A uniquely named scratch database per test file on a REAL Postgres server: the suite's
 * (DATABASE_URL, set by jest global setup) or, with TEST_SERVICES=none, a local one.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: SERVER_URL, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createScratchDatabase(label: string): Promise<ScratchDatabase> {
  const safe = label.toLowerCase().replace(/[^a-z0-9]/g, '_').slice(0, 30);
  const name = `te_${safe}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    // WITH (FORCE) (PG 13+) ends sessions a failed test may have left open.
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
