/**
 * A Temporal dev server (`temporal server start-dev`, CLI v1.5.1) on free loopback ports, with
 * this service's search attributes registered, that can be stopped and restarted on the same
 * ports and database file (outage tests) and that never outlives us (see child-process.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../shared/search-attributes';
import { spawnManaged, sleep, type ManagedProcess } from './child-process';
import { ADDRESS_IN_USE, getFreePorts, isPortFree } from './ports';
import { cliEnv, defaultProgress, ensureTemporalCli, type Progress } from './temporal-cli';

export interface TemporalDevServerOptions {
  /** Path of the `temporal` binary; default: ensureTemporalCli(progress). */
  cliPath?: string;
  /** Progress lines (CLI provisioning, port retries). */
  progress?: Progress;
  /** Alias of `progress`. */
  log?: Progress;
  /** Namespace created at start and checked for readiness (default "default", which always exists). */
  namespace?: string;
  /** Interface for gRPC, HTTP and UI (default 127.0.0.1). */
  ip?: string;
  /** Fixed ports; any not given is picked free. */
  port?: number;
  uiPort?: number;
  httpPort?: number;
  metricsPort?: number;
  /** Serve the Web UI (default true). */
  ui?: boolean;
  /** SQLite file; without it the state is in memory and lost on stop/restart. */
  dbFile?: string;
  /**
   * With dbFile, how hard SQLite holds on to what it wrote (SQLITE_PRAGMAS):
   *   'fast'    journal_mode=WAL, synchronous=OFF: survives a crash of the server process, not of
   *             the machine (tests, benchmarks; the default, for compatibility);
   *   'durable' journal_mode=WAL, synchronous=FULL: every commit is fsynced, so a power cut loses
   *             no acknowledged workflow state (what `npm start` uses).
   */
  sqlite?: SqliteDurability;
  /** Old spelling: true = sqlite 'fast', false = 'durable'. Ignored when `sqlite` is given. */
  fastSqlite?: boolean;
  /** Server log level (default warn). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'never';
  /** Append the server's output here; it is also kept in memory for error messages. */
  logFile?: string;
  /** Search attributes to register (default SEARCH_ATTRIBUTE_REGISTRATIONS). */
  searchAttributes?: ReadonlyArray<{ name: string; type: string }>;
  /** Extra `--dynamic-config-value KEY=JSON` entries. */
  dynamicConfig?: Record<string, unknown>;
  /** How long to wait for the server to answer (default 60 s). */
  startTimeoutMs?: number;
  extraArgs?: string[];
}

export interface TemporalDevServer {
  /** gRPC frontend, `127.0.0.1:PORT`. */
  readonly address: string;
  readonly uiUrl: string;
  readonly namespace: string;
  readonly dbFile?: string;
  readonly ports: { grpc: number; ui: number | undefined; http: number; metrics: number };
  readonly cliPath: string;
  /** Full argument list passed to the CLI. */
  readonly args: readonly string[];
  /** Current server pid (undefined while stopped). */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stop the server (its whole process group). Idempotent. */
  stop(): Promise<void>;
  /** Start again after stop(), same ports and db file. No-op if running. */
  start(): Promise<void>;
  /** stop() then start(): same ports and db file, so persisted data is kept. */
  restart(): Promise<void>;
  /** Last lines of server output. */
  recentOutput(): string;
}

export type SqliteDurability = 'fast' | 'durable';

/**
 * SQLite pragmas per durability. WAL in both (readers do not block the writer). synchronous=OFF
 * leaves the fsync to the OS: a crash of the process loses nothing, a crash of the machine can
 * lose the last commits or corrupt the file. synchronous=FULL in WAL mode fsyncs the log on every
 * commit: what Temporal acknowledged is on disk (NORMAL would be consistent but could lose the
 * last commits on a power cut, i.e. workflow steps already acknowledged to a worker).
 */
export const SQLITE_PRAGMAS: Record<SqliteDurability, readonly string[]> = {
  fast: ['journal_mode=WAL', 'synchronous=OFF'],
  durable: ['journal_mode=WAL', 'synchronous=FULL'],
};

/** The dev server `npm start` runs: its state in DATA_DIR/temporal.db, durable against a power cut. */
export function npmStartTemporalOptions(o: { dataDir: string; uiPort?: number }): TemporalDevServerOptions & { dbFile: string; sqlite: 'durable' } {
  return { dbFile: path.join(o.dataDir, 'temporal.db'), sqlite: 'durable', ...(o.uiPort ? { uiPort: o.uiPort } : {}) };
}

/** `--search-attribute` flags for the given registrations. */
export function searchAttributeArgs(registrations: ReadonlyArray<{ name: string; type: string }>): string[] {
  return registrations.flatMap((r) => ['--search-attribute', `${r.name}=${r.type}`]);
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const progress = opts.progress ?? opts.log ?? defaultProgress;
  const cliPath = opts.cliPath ?? (await ensureTemporalCli(progress));
  const autoPorts = opts.port === undefined || opts.uiPort === undefined || opts.httpPort === undefined || opts.metricsPort === undefined;
  for (let attempt = 1; ; attempt++) {
    const server = await createServer(cliPath, opts);
    try {
      await server.start();
      return server;
    } catch (e) {
      await server.stop();
      if (attempt < 3 && autoPorts && ADDRESS_IN_USE.test(String((e as Error).message))) {
        progress(`temporal dev server: a port was taken meanwhile, retrying with new ports`);
        continue;
      }
      throw e;
    }
  }
}

/**
 * The CLI's arguments for `opts` on `ports`: pure, so what a configuration asks of the server
 * (ports, SQLite durability, dynamic config) can be checked without starting one.
 */
export function devServerArgs(
  opts: TemporalDevServerOptions,
  ports: { grpc: number; ui: number | undefined; http: number; metrics: number },
): string[] {
  const ip = opts.ip ?? '127.0.0.1';
  const namespace = opts.namespace ?? 'default';
  const searchAttributes = opts.searchAttributes ?? SEARCH_ATTRIBUTE_REGISTRATIONS;
  const durability: SqliteDurability = opts.sqlite ?? ((opts.fastSqlite ?? true) ? 'fast' : 'durable');
  const dynamicConfig: Record<string, unknown> = {
    // No call home (there is no internet here, and tests should not try).
    'frontend.enableServerVersionCheck': false,
    // Let a worker that shares the starter's connection take a new workflow's first task from
    // the start response, and take activities it schedules on its own queue from the task
    // completion response: each skips a trip through matching. (Production clusters: same keys.)
    'system.enableEagerWorkflowStart': true,
    'system.enableActivityEagerExecution': true,
    ...opts.dynamicConfig,
  };
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(ports.grpc),
    '--http-port',
    String(ports.http),
    '--metrics-port',
    String(ports.metrics),
    ...(ports.ui !== undefined ? ['--ui-port', String(ports.ui)] : ['--headless']),
    '--log-level',
    opts.logLevel ?? 'warn',
    ...(namespace !== 'default' ? ['--namespace', namespace] : []),
    ...searchAttributeArgs(searchAttributes),
    ...Object.entries(dynamicConfig).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${JSON.stringify(v)}`]),
    ...(opts.dbFile ? ['--db-filename', opts.dbFile, ...SQLITE_PRAGMAS[durability].flatMap((p) => ['--sqlite-pragma', p])] : []),
    ...(opts.extraArgs ?? []),
  ];
  return args;
}

async function createServer(cliPath: string, opts: TemporalDevServerOptions): Promise<TemporalDevServer & { start(): Promise<void> }> {
  const ip = opts.ip ?? '127.0.0.1';
  const ui = opts.ui ?? true;
  const namespace = opts.namespace ?? 'default';
  const free = await getFreePorts(4, ip);
  const ports = {
    grpc: opts.port ?? free[0]!,
    ui: ui ? (opts.uiPort ?? free[1]!) : undefined,
    http: opts.httpPort ?? free[2]!,
    metrics: opts.metricsPort ?? free[3]!,
  };
  const args = devServerArgs(opts, ports);
  const searchAttributes = opts.searchAttributes ?? SEARCH_ATTRIBUTE_REGISTRATIONS;
  if (opts.dbFile) fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const address = `${ip}:${ports.grpc}`;
  const uiUrl = ports.ui !== undefined ? `http://${ip}:${ports.ui}` : '';
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  let proc: ManagedProcess | undefined;
  let transition: Promise<void> = Promise.resolve();
  const serialize = (fn: () => Promise<void>): Promise<void> => (transition = transition.then(fn, fn));

  const doStart = async (): Promise<void> => {
    if (proc && !proc.exitInfo()) return;
    for (let attempt = 1; ; attempt++) {
      // After a restart the old listener must be gone, or the new server fails to bind.
      for (const p of [ports.grpc, ports.http]) {
        const deadline = Date.now() + 10_000;
        while (!(await isPortFree(p, ip)) && Date.now() < deadline) await sleep(100);
      }
      const started = await spawnManaged(cliPath, args, {
        name: `temporal dev server ${address}`,
        env: cliEnv(process.env),
        logFile: opts.logFile,
        stopSignal: 'SIGTERM',
        stopTimeoutMs: 20_000,
      });
      proc = started;
      try {
        await waitUntilReady(started, address, namespace, searchAttributes.map((s) => s.name), timeoutMs);
        return;
      } catch (e) {
        await started.stop();
        // The CLI picks its internal services' ports (matching, history, worker) afresh at each
        // start by binding and releasing them: another process can take one in between. Our own
        // ports stay fixed, so a new attempt (new internal ports) is all it takes.
        if (attempt < 4 && ADDRESS_IN_USE.test(String((e as Error).message))) {
          (opts.progress ?? opts.log ?? defaultProgress)(`temporal dev server ${address}: an internal port was taken meanwhile (attempt ${attempt}); starting again`);
          continue;
        }
        throw e;
      }
    }
  };
  const doStop = async (): Promise<void> => {
    await proc?.stop();
  };

  return {
    address,
    uiUrl,
    namespace,
    dbFile: opts.dbFile,
    ports,
    cliPath,
    args,
    get pid() {
      return proc && !proc.exitInfo() ? proc.pid : undefined;
    },
    get running() {
      return !!proc && !proc.exitInfo();
    },
    start: () => serialize(doStart),
    stop: () => serialize(doStop),
    restart: () =>
      serialize(async () => {
        await doStop();
        await doStart();
      }),
    recentOutput: () => proc?.recentOutput() ?? '',
  };
}

async function waitUntilReady(
  proc: ManagedProcess,
  address: string,
  namespace: string,
  attributeNames: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  let connection: Connection | undefined;
  try {
    while (Date.now() < deadline) {
      const exit = proc.exitInfo();
      if (exit) {
        throw new Error(
          `temporal dev server exited during startup (code ${exit.code}, signal ${exit.signal}): ${proc.recentOutput(40)}`,
        );
      }
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 2_000 });
        await connection.workflowService.describeNamespace({ namespace });
        const sa = await connection.operatorService.listSearchAttributes({ namespace });
        const missing = attributeNames.filter((n) => !(n in (sa.customAttributes ?? {})));
        if (missing.length === 0) return;
        lastError = `search attributes not registered yet: ${missing.join(', ')}`;
      } catch (e) {
        lastError = (e as Error).message;
        if (connection) {
          await connection.close().catch(() => undefined);
          connection = undefined;
        }
      }
      await sleep(100);
    }
    throw new Error(`temporal dev server at ${address} did not become ready within ${timeoutMs} ms: ${lastError}\n${proc.recentOutput(40)}`);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
