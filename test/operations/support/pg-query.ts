/** One query on a connection of its own, for the operations tests' own Postgres instances. */
import { Client } from 'pg';

export async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}
