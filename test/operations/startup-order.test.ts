/**
 * Start-up order does not matter: the service (worker and bridge, as `npm start` and compose run
 * it) is started while nothing listens at its Temporal, PostgreSQL and Redis addresses. It waits,
 * says what it waits for (name and address, no credentials), and becomes ready once they come up
 * (here: a private dev server, Postgres and redis-server started afterwards on those addresses);
 * then a decision is traded end to end.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import pino from 'pino';
import { startService, type RunningService } from '../../src/operations/service';
import { getFreePorts } from '../../src/operations/ports';
import { startEmbeddedPostgres, type PostgresServer } from '../../src/operations/postgres-server';
import { startRedisServer, type RedisServer } from '../../src/operations/redis-server';
import { ensureTemporalCli } from '../../src/operations/temporal-cli';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/operations/temporal-dev-server';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { bundleWorkflows } from '../../src/worker/worker';
import { testServices } from '../support/services';
import { pushDecision, until, waitForReport } from '../support/streams';
import { approvedDecision } from '../support/decisions';

let tmp: string;
let temporal: TemporalDevServer | undefined;
let postgres: PostgresServer | undefined;
let redisServer: RedisServer | undefined;
let paper: PaperExchange | undefined;
let service: RunningService | undefined;
let redis: Redis | undefined;
const stop = new AbortController();

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'startup-order-'));
  fs.chmodSync(tmp, 0o755); // embedded postgres runs as the "postgres" user when we are root
});

afterAll(async () => {
  stop.abort();
  redis?.disconnect();
  await service?.stop();
  await temporal?.stop();
  await redisServer?.stop();
  await postgres?.stop();
  await paper?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 120_000);

test('a service started before Temporal, PostgreSQL and Redis waits for them, says so, and becomes ready', async () => {
  const cliPath = await ensureTemporalCli(() => undefined);
  const bundle = await bundleWorkflows();
  const [temporalPort, pgPort, redisPort] = await getFreePorts(3);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  paper = await startPaperExchange({ port: 0, seed: 8 });
  const databaseUrl = `postgres://postgres:s3cret-pw@127.0.0.1:${pgPort}/postgres`;

  let ready = false;
  const starting = startService({
    temporalAddress: `127.0.0.1:${temporalPort}`,
    namespace: 'default',
    taskQueue: 'startup-order',
    databaseUrl,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    exchange: { baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, recvWindowMs: 5000 },
    defaultOrderTimeoutMs: 20_000,
    bridge: { consumer: 'startup-order' },
    workflowBundle: bundle,
    logger,
    startup: { timeoutMs: 240_000, signal: stop.signal },
  }).then((s) => {
    ready = true;
    service = s;
    return s;
  });
  starting.catch(() => undefined);

  // Nothing listens yet: it waits for PostgreSQL and Redis, and names them.
  const waitingFor = (what: string) => lines.find((l) => l.msg === `waiting for ${what}`);
  await until('the service to say it waits for PostgreSQL and Redis', async () => waitingFor(`PostgreSQL at 127.0.0.1:${pgPort}/postgres`) && waitingFor(`Redis at 127.0.0.1:${redisPort}`), 60_000);
  expect(ready).toBe(false);
  // Addresses only, never the password in the URL.
  expect(JSON.stringify(lines)).not.toContain('s3cret-pw');

  postgres = await startEmbeddedPostgres({ dataDir: path.join(tmp, 'pg'), port: pgPort, password: 's3cret-pw', fast: true });
  redisServer = await startRedisServer({ port: redisPort, dir: tmp });
  // Now it gets as far as Temporal, and waits there.
  await until('the service to say it waits for Temporal', async () => waitingFor(`Temporal at 127.0.0.1:${temporalPort}`), 90_000);
  expect(ready).toBe(false);

  temporal = await startTemporalDevServer({ cliPath, port: temporalPort, ui: false });
  const s = await starting;
  expect(s.worker?.getState()).toBe('RUNNING');
  for (const what of ['PostgreSQL', 'Redis', 'Temporal']) expect(lines.some((l) => l.dependency === what && String(l.msg).endsWith('is reachable'))).toBe(true);

  // Ready for real: a decision in, a report out.
  redis = new Redis(redisServer.url);
  await pushDecision(redis, approvedDecision(`startup-${Date.now()}`));
  const report = await waitForReport(redis, (r) => r.decision_id.startsWith('startup-'), 60_000);
  expect(report.report.status).toBe('filled');
}, 300_000);

test('what waiting cannot cure is not waited for: a wrong PostgreSQL password fails start-up at once, with the reason', async () => {
  const url = new URL(testServices().databaseUrl);
  url.password = 'not-the-password';
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString('utf8')), cb()) }));
  const err = await startService({
    temporalAddress: '127.0.0.1:1',
    namespace: 'default',
    taskQueue: 'startup-order-fatal',
    databaseUrl: url.toString(),
    redisUrl: testServices().redisUrl,
    exchange: { baseUrl: 'http://127.0.0.1:1', apiKey: 'k', apiSecret: 's', recvWindowMs: 5000 },
    defaultOrderTimeoutMs: 20_000,
    bridge: false,
    worker: false,
    logger,
    // A regression (waiting on a bad password) ends here with "not reachable within", not a pass.
    startup: { timeoutMs: 60_000 },
  }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(err?.message).toMatch(/password authentication failed/);
  expect(lines.join('')).not.toContain('not-the-password');
}, 90_000);

test('the standalone bridge started before PostgreSQL and Redis waits for them instead of exiting', async () => {
  const [pgPort, redisPort, temporalPort] = await getFreePorts(3);
  const output: string[] = [];
  const bridge = spawn(process.execPath, ['--require', 'tsx/cjs', path.resolve(__dirname, '../../src/bridge/main.ts')], {
    cwd: path.resolve(__dirname, '../..'),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      DATABASE_URL: `postgres://postgres:bridge-pw-1@127.0.0.1:${pgPort}/postgres`,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      METRICS_PORT: '0',
      BRIDGE_CONSUMER: 'startup-order-bridge',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => bridge.on('exit', (code) => resolve(code)));
  for (const s of [bridge.stdout!, bridge.stderr!]) s.on('data', (c: Buffer) => output.push(...c.toString('utf8').split('\n')));
  const said = (text: string) => output.some((l) => l.includes(text));
  try {
    await until('the bridge to say what it waits for', async () => {
      if (bridge.exitCode !== null) throw new Error(`bridge exited ${bridge.exitCode}: ${output.join('\n')}`);
      return said(`"waiting for PostgreSQL at 127.0.0.1:${pgPort}/postgres"`) && said(`"waiting for Redis at 127.0.0.1:${redisPort}"`);
    }, 60_000);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(tmp, 'bridge-pg'), port: pgPort, password: 'bridge-pw-1', fast: true });
    const rs = await startRedisServer({ port: redisPort, dir: tmp });
    try {
      await until('the bridge to be ready', async () => {
        if (bridge.exitCode !== null) throw new Error(`bridge exited ${bridge.exitCode}: ${output.join('\n')}`);
        return said('"bridge ready"');
      }, 90_000);
      expect(output.join('\n')).not.toContain('bridge-pw-1');
      bridge.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await rs.stop();
      await pg.stop();
    }
  } finally {
    if (bridge.exitCode === null) bridge.kill('SIGKILL');
  }
}, 240_000);
