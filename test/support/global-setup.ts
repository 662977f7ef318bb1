/**
 * jest globalSetup: unless TEST_SERVICES=none, starts in parallel, on free loopback ports and
 * in one temp dir:
 *  - a Temporal dev server (CLI found or built by ensureTemporalCli, progress printed; file db
 *    with fast SQLite pragmas; UI on; this service's search attributes registered),
 *  - an embedded Postgres (fsync off),
 *  - a redis-server keeping nothing on disk, requiring an ACL user and password (REDIS_URL
 *    redis://trade-exec-test:PASSWORD@127.0.0.1:PORT),
 * then exports TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_UI_URL, DATABASE_URL, REDIS_URL,
 * TEMPORAL_CLI_PATH (+ TEST_SERVICES_FILE, TEST_SERVICES_CONTROL) through process.env, which
 * jest copies into every test file's `process.env`, and writes them to
 * `$TEST_SERVICES_FILE` (services.json in the temp dir).
 *
 * Outage tests (test/support/services.ts: stopTemporal/startTemporal/restartTemporal) reach the
 * dev server through a small HTTP control endpoint on a Unix socket ($TEST_SERVICES_CONTROL)
 * served from here: test files run in their own module registry and vm context, so they cannot
 * share the server object, and the socket also works when jest uses worker processes.
 *
 * Set TEST_SERVICES_KEEP=1 to keep the temp dir (logs: temporal.log, postgres.log, redis.log);
 * it is also kept when startup fails. Dirs of runs killed before teardown (owner.pid dead) are
 * removed by the next run.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type PostgresServer } from '../../src/operations/postgres-server';
import { redactUrl } from '../../src/logging';
import { startRedisServer, type RedisServer } from '../../src/operations/redis-server';
import { ensureTemporalCli } from '../../src/operations/temporal-cli';
import { ensureTemporalServerBinaries } from '../../src/operations/stack/temporal-binaries';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/operations/temporal-dev-server';

export const TEST_SERVICES_KEY = Symbol.for('trade-exec.test-services');

export interface TestServiceHandles {
  root: string;
  temporal?: TemporalDevServer;
  postgres?: PostgresServer;
  redis?: RedisServer;
  control?: http.Server;
  /** The background build of the Temporal server (see prebuildTemporalServer); settles, never rejects. */
  prebuild?: Promise<void>;
}

const say = (line: string): void => void process.stderr.write(`[test-services] ${line}\n`);

export default async function globalSetup(globalConfig?: { testPathPatterns?: { patterns?: readonly string[] } }): Promise<void> {
  if (process.env.TEST_SERVICES === 'none') {
    say('TEST_SERVICES=none: not starting Temporal, Postgres or Redis');
    return;
  }
  const t0 = Date.now();
  removeAbandonedDirs();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), ROOT_PREFIX));
  fs.chmodSync(root, 0o755); // embedded postgres runs as the "postgres" user and must enter it
  fs.writeFileSync(path.join(root, 'owner.pid'), String(process.pid));
  const handles: TestServiceHandles = { root };
  (globalThis as unknown as Record<symbol, unknown>)[TEST_SERVICES_KEY] = handles;
  say(`starting Temporal dev server, Postgres and Redis in ${root}`);

  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const out = await fn();
    timings[name] = Date.now() - t;
    return out;
  };
  const pgLog = fs.createWriteStream(path.join(root, 'postgres.log'), { flags: 'a' });
  pgLog.on('error', () => undefined);
  const results = await Promise.allSettled([
    (async () => {
      const cliPath = await timed('temporal cli', () => ensureTemporalCli((l) => say(`temporal cli: ${l}`)));
      handles.temporal = await timed('temporal', () =>
        startTemporalDevServer({
          cliPath,
          dbFile: path.join(root, 'temporal', 'temporal.db'),
          fastSqlite: true,
          logFile: path.join(root, 'temporal.log'),
          progress: say,
        }),
      );
    })(),
    (async () => {
      handles.postgres = await timed('postgres', () =>
        startEmbeddedPostgres({ dataDir: path.join(root, 'postgres'), fast: true, onLog: (l) => pgLog.write(l + '\n') }),
      );
    })(),
    (async () => {
      // With an ACL user and password, so that every test that reaches Redis proves authentication works.
      const auth = { user: 'trade-exec-test', password: randomBytes(18).toString('hex') };
      handles.redis = await timed('redis', () => startRedisServer({ dir: root, logFile: path.join(root, 'redis.log'), auth }));
    })(),
  ]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failures.length > 0) {
    await stopTestServices(handles, true);
    throw new Error(`test services failed to start:\n- ${failures.join('\n- ')}`);
  }
  const temporal = handles.temporal!;
  const values = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_UI_URL: temporal.uiUrl,
    TEMPORAL_CLI_PATH: temporal.cliPath,
    DATABASE_URL: handles.postgres!.url,
    REDIS_URL: handles.redis!.url,
    TEST_SERVICES_FILE: path.join(root, 'services.json'),
    TEST_SERVICES_CONTROL: path.join(root, 'control.sock'),
  };
  handles.prebuild = prebuildTemporalServer(globalConfig?.testPathPatterns?.patterns ?? []);
  handles.control = await startControlServer(values.TEST_SERVICES_CONTROL, handles);
  fs.writeFileSync(values.TEST_SERVICES_FILE, JSON.stringify(values, null, 2) + '\n');
  Object.assign(process.env, values);
  say(
    `ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${Object.entries(timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`)
      .join(', ')}): Temporal ${values.TEMPORAL_ADDRESS} UI ${values.TEMPORAL_UI_URL}, Postgres 127.0.0.1:${handles.postgres!.port}, ${redactUrl(values.REDIS_URL)}`,
  );
}

const ROOT_PREFIX = 'trade-exec-test-';

/**
 * On a fresh machine the real Temporal server takes ~10 minutes to build (test/stack needs it).
 * For a run that includes test/stack, the build starts here, in the background, so that it
 * overlaps the other test files instead of adding to the suite's time; the stack tests then
 * find it built, or wait on its lock (go-binary.ts). Cached: this returns at once.
 */
function prebuildTemporalServer(patterns: readonly string[]): Promise<void> | undefined {
  if (patterns.length > 0 && !patterns.some((p) => /stack/.test(p))) return undefined;
  const quiet = (line: string) => {
    if (!line.startsWith('go: ')) say(`temporal server binaries: ${line}`);
  };
  return ensureTemporalServerBinaries(quiet).then(
    () => undefined,
    (err: unknown) =>
      say(`temporal server binaries: the background build failed (test/stack will say why): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`),
  );
}

/** Temp dirs of earlier runs that were killed before their teardown (their owner pid is dead). */
function removeAbandonedDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(ROOT_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const pid = Number(fs.readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
      if (pid > 0 && pid !== process.pid) process.kill(pid, 0); // throws if dead
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Stop everything started by globalSetup; used by globalTeardown and on setup failure. */
export async function stopTestServices(handles: TestServiceHandles, keepDirOnFailure = false): Promise<void> {
  await new Promise<void>((resolve) => (handles.control ? handles.control.close(() => resolve()) : resolve()));
  const results = await Promise.allSettled([handles.temporal?.stop(), handles.postgres?.stop(), handles.redis?.stop()]);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  if (process.env.TEST_SERVICES_KEEP === '1' || keepDirOnFailure) {
    fs.rmSync(path.join(handles.root, 'owner.pid'), { force: true }); // so no later run removes it
    say(`kept ${handles.root} (logs: temporal.log, postgres.log, redis.log)`);
  } else {
    fs.rmSync(handles.root, { recursive: true, force: true });
  }
  if (failures.length > 0) throw new Error(`stopping test services failed: ${failures.join('; ')}`);
}

/**
 * POST /temporal/stop | /temporal/start | /temporal/restart → 200 {"ok":true,...} or 500 {"error"}.
 * GET /status → which services run.
 */
function startControlServer(socketPath: string, handles: TestServiceHandles): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const temporal = handles.temporal!;
      try {
        if (req.method === 'GET' && req.url === '/status') {
          return reply(200, { ok: true, temporal: { running: temporal.running, address: temporal.address, pid: temporal.pid } });
        }
        const action = req.method === 'POST' ? /^\/temporal\/(stop|start|restart)$/.exec(req.url ?? '')?.[1] : undefined;
        if (!action) return reply(404, { error: `unknown request ${req.method} ${req.url}` });
        const t = Date.now();
        if (action === 'stop') await temporal.stop();
        else if (action === 'start') await temporal.start();
        else await temporal.restart();
        reply(200, { ok: true, action, ms: Date.now() - t, running: temporal.running, address: temporal.address });
      } catch (e) {
        reply(500, { error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}
