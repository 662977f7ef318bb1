/** The Postgres and Redis launchers, on their own instances (not the suite's). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { query } from './support/pg-query';
import { canConnect } from '../../src/operations/ports';
import { startEmbeddedPostgres } from '../../src/operations/postgres-server';
import { findRedisServer, NPM_START_REDIS_USER, npmStartRedisOptions, redisPing, startRedisServer } from '../../src/operations/redis-server';
import { killAllBridges, spawnBridge } from '../bridge/support/harness';
import { freshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';
import { until } from '../support/streams';
import { runCliProcess } from '../ui/helpers';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-redis-test-'));
  fs.chmodSync(tmp, 0o755); // the postgres user must be able to enter it when we run as root
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('embedded postgres: starts on a free port, stops, and starts again on the same data dir with its data', async () => {
  const dataDir = path.join(tmp, 'pg');
  const pg = await startEmbeddedPostgres({ dataDir, fast: true, database: 'ops_test' });
  expect(pg.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/ops_test$/);
  await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'hello\')');
  expect(await query(pg.url, 'SHOW fsync')).toEqual([{ fsync: 'off' }]);
  await pg.stop();
  expect(await canConnect(pg.port)).toBe(false);
  await pg.stop(); // idempotent

  const again = await startEmbeddedPostgres({ dataDir, database: 'ops_test' });
  try {
    expect(await query(again.url, 'SELECT v FROM kept')).toEqual([{ v: 'hello' }]);
  } finally {
    await again.stop();
  }
});

test('embedded postgres: a data dir the postgres user cannot reach is kept where it can, and linked (as root)', async () => {
  if (process.getuid?.() !== 0) return;
  const closed = path.join(tmp, 'closed');
  fs.mkdirSync(closed, { mode: 0o700 });
  // (test/operations/postgres-root-700.test.ts: the same with the default place and the binaries too)
  const pg = await startEmbeddedPostgres({ dataDir: path.join(closed, 'pg'), sharedRoot: path.join(tmp, 'shared'), fast: true });
  try {
    expect(pg.dataDir.startsWith(path.join(tmp, 'shared', 'clusters'))).toBe(true);
    expect(fs.realpathSync(path.join(closed, 'pg'))).toBe(pg.dataDir);
  } finally {
    await pg.stop();
  }
});

test('redis-server (the tests\' fast mode): starts on a free port, answers, keeps nothing, stops', async () => {
  const redis = await startRedisServer({ dir: tmp });
  expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
  const client = new Redis(redis.url);
  try {
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
  } finally {
    client.disconnect();
  }
  await redis.stop();
  expect(await canConnect(redis.port)).toBe(false);
  // The config file (it may hold a password) does not outlive the start.
  expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.conf'))).toEqual([]);
});

test('redis-server as npm start runs it: durable (AOF, appendfsync everysec in DATA_DIR/redis), a password, data kept across a restart', async () => {
  const dataDir = path.join(tmp, 'data');
  const options = npmStartRedisOptions({ dataDir });
  expect(options.auth.user).toBe(NPM_START_REDIS_USER);
  expect(fs.statSync(path.join(dataDir, 'redis', 'password')).mode & 0o777).toBe(0o600);
  const redis = await startRedisServer(options);
  expect(redis.url).toBe(`redis://${NPM_START_REDIS_USER}:${options.auth.password}@127.0.0.1:${redis.port}`);
  try {
    // Without the password nothing is allowed.
    const anonymous = new Redis(`redis://127.0.0.1:${redis.port}`, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, enableReadyCheck: false });
    anonymous.on('error', () => undefined);
    await expect(anonymous.connect().then(() => anonymous.ping())).rejects.toThrow(/NOAUTH|WRONGPASS/);
    anonymous.disconnect();
    expect(await redisPing(redis.port, '127.0.0.1', 2000, { user: NPM_START_REDIS_USER, password: 'not-it' })).toBe(false);
    expect(await redisPing(redis.port, '127.0.0.1', 2000, options.auth)).toBe(true);

    const client = new Redis(redis.url);
    try {
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
      expect(await client.config('GET', 'dir')).toEqual(['dir', path.join(dataDir, 'redis')]);
      await client.xadd('risk_decisions', '*', 'data', '{"kept":true}');
    } finally {
      client.disconnect();
    }
  } finally {
    await redis.stop();
  }
  expect(fs.existsSync(path.join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
  // Same DATA_DIR again: the same password, and the stream entry survived the restart (from the AOF).
  const again = await startRedisServer(npmStartRedisOptions({ dataDir }));
  try {
    expect(new URL(again.url).password).toBe(options.auth.password);
    const client = new Redis(again.url);
    try {
      expect((await client.xrange('risk_decisions', '-', '+')).map(([, f]) => f)).toEqual([['data', '{"kept":true}']]);
    } finally {
      client.disconnect();
    }
  } finally {
    await again.stop();
  }
});

test('the suite\'s Redis requires its ACL user: REDIS_URL carries a password, and without it commands are refused', async () => {
  const url = new URL(testServices().redisUrl);
  expect(url.username).toBe('trade-exec-test');
  expect(url.password.length).toBeGreaterThanOrEqual(32);
  const withIt = new Redis(url.toString());
  const without = new Redis(`redis://127.0.0.1:${url.port}`, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, enableReadyCheck: false });
  without.on('error', () => undefined);
  try {
    expect(await withIt.ping()).toBe('PONG');
    expect(await withIt.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    await expect(without.connect().then(() => without.xadd('risk_decisions', '*', 'data', '{}'))).rejects.toThrow(/NOAUTH/);
  } finally {
    withIt.disconnect();
    without.disconnect();
  }
});

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=trade-exec test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('san.ext'));
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}

test('Redis over TLS (rediss://) with an ACL user: a bridge process and the CLI connect, verify the server and work', async () => {
  const certs = makeCertificates(path.join(tmp, 'tls'));
  const auth = { user: 'tls-user', password: 'tlspassword0123456789abcdef' };
  const redis = await startRedisServer({ dir: tmp, auth, tls: certs });
  expect(redis.url).toBe(`rediss://tls-user:${auth.password}@127.0.0.1:${redis.port}`);
  const services = testServices();
  const db = await freshDatabase(services.databaseUrl, 'redis_tls');
  const client = new Redis(redis.url, { tls: { ca: fs.readFileSync(certs.caFile) } });
  // Child processes trust the test CA the way an operator's would trust theirs.
  const caEnv = { NODE_EXTRA_CA_CERTS: certs.caFile };
  const bridge = spawnBridge({
    consumer: 'tls-bridge',
    taskQueue: `redis-tls-${process.pid}`,
    env: { temporalAddress: services.temporalAddress, namespace: services.namespace, redisUrl: redis.url, databaseUrl: db.url },
    extraEnv: caEnv,
  });
  try {
    // Plain text on the TLS port gets nowhere.
    expect(await redisPing(redis.port, '127.0.0.1', 2000, auth)).toBe(false);
    expect(await client.ping()).toBe('PONG');
    await bridge.ready;
    const id = `tls-${process.pid}-${Date.now()}`;
    const cli = await runCliProcess(['send', '--id', id, '--json'], { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redis.url, ...caEnv });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).stream).toBe('risk_decisions');
    const started = await until('the bridge started the decision sent over TLS', async () => {
      const r = await query(db.url, `SELECT status FROM decisions WHERE decision_id = '${id}'`);
      return r[0]?.status === 'started' ? r[0] : undefined;
    });
    expect(started).toEqual({ status: 'started' });
    // Without the CA the server's certificate is not trusted: the CLI says it cannot reach Redis.
    const untrusted = await runCliProcess(['send', '--id', `${id}-x`], { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redis.url });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/cannot reach Redis at rediss:\/\/tls-user:\*\*\*@127\.0\.0\.1/);
    expect(untrusted.stderr).not.toContain(auth.password);
  } finally {
    await killAllBridges();
    client.disconnect();
    await redis.stop();
    await db.drop();
  }
}, 90_000);

test('redis-server missing: the error says how to install it', async () => {
  expect(() => findRedisServer({ PATH: path.join(tmp, 'nothing-here') })).toThrow(/apt-get install redis-server/);
  await expect(startRedisServer({ redisServerPath: path.join(tmp, 'no-redis-server') })).rejects.toThrow(/cannot start .*no-redis-server/);
});
