/**
 * The Temporal server's databases, created and brought to the schema version this server
 * release needs, with `temporal-sql-tool` (its PostgreSQL schemas are built into it):
 *
 *   create-database                 (a no-op when it exists)
 *   setup-schema -v 0.0             (only when the database has no schema_version row yet)
 *   update-schema --schema-name …   (applies the versions between the database's and the tool's)
 *
 * `setup-schema -v 0.0` is run only on a database with no recorded version: on one that has a
 * version it skips the write, but if it fails to read that version it falls back to writing 0.0,
 * and the update would then replay every migration over existing tables. The password reaches
 * the tool through SQL_PASSWORD (a flag would show it in `ps`).
 */
import { execFile } from 'node:child_process';
import { Client } from 'pg';
import { TEMPORAL_SCHEMAS, TEMPORAL_SQL_PLUGIN } from './topology';

export interface SqlEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface SchemaResult {
  database: string;
  schemaName: string;
  /** The version recorded before this run (undefined: the database was new). */
  before?: string;
  after: string;
}

export async function setUpTemporalSchemas(o: {
  sqlTool: string;
  postgres: SqlEndpoint;
  progress?: (line: string) => void;
}): Promise<SchemaResult[]> {
  const progress = o.progress ?? (() => undefined);
  const results: SchemaResult[] = [];
  for (const schema of TEMPORAL_SCHEMAS) {
    const run = (args: string[]) => runSqlTool(o.sqlTool, o.postgres, schema.database, args);
    await run(['create-database']);
    const before = await recordedVersion(o.postgres, schema.database);
    if (before === undefined) await run(['setup-schema', '-v', '0.0']);
    await run(['update-schema', '--schema-name', schema.schemaName]);
    const after = await recordedVersion(o.postgres, schema.database);
    if (after === undefined) throw new Error(`temporal-sql-tool left ${schema.database} without a schema version`);
    progress(
      before === after
        ? `Temporal schema ${schema.database}: at ${after} (${schema.schemaName})`
        : `Temporal schema ${schema.database}: ${before ?? 'new'} -> ${after} (${schema.schemaName})`,
    );
    results.push({ database: schema.database, schemaName: schema.schemaName, before, after });
  }
  return results;
}

/** The version temporal-sql-tool recorded in `database`, or undefined when it has none yet. */
export async function recordedVersion(pg: SqlEndpoint, database: string): Promise<string | undefined> {
  const client = new Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database });
  await client.connect();
  try {
    const table = await client.query<{ exists: boolean }>(`SELECT to_regclass('public.schema_version') IS NOT NULL AS exists`);
    if (!table.rows[0]?.exists) return undefined;
    const row = await client.query<{ curr_version: string }>('SELECT curr_version FROM schema_version WHERE db_name = $1', [database]);
    return row.rows[0]?.curr_version;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function runSqlTool(sqlTool: string, pg: SqlEndpoint, database: string, args: string[]): Promise<void> {
  const argv = ['--plugin', TEMPORAL_SQL_PLUGIN, '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, '--db', database, ...args];
  return new Promise((resolve, reject) => {
    execFile(
      sqlTool,
      argv,
      { env: { ...process.env, SQL_PASSWORD: pg.password }, timeout: 5 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve();
        const tail = `${String(stdout)}\n${String(stderr)}`.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`temporal-sql-tool ${args[0]} on ${database} failed (${err.message.split('\n')[0]}):\n${tail}`));
      },
    );
  });
}
