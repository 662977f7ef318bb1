/**
 * A second, private dev server (the suite's own one is left alone): free ports, search
 * attributes, UI, clean stop, restart on the same port with its data kept.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS, SA } from '../../src/shared/search-attributes';
import { canConnect, isPortFree } from '../../src/operations/ports';
import { ensureTemporalCli } from '../../src/operations/temporal-cli';
import { devServerArgs, npmStartTemporalOptions, startTemporalDevServer, type TemporalDevServer } from '../../src/operations/temporal-dev-server';
import { alive } from './support/processes';

let tmp: string;
let server: TemporalDevServer | undefined;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-dev-test-'));
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('starts on free ports with the search attributes registered and the UI up; restarts on the same port with data kept', async () => {
  const cliPath = await ensureTemporalCli(() => undefined);
  server = await startTemporalDevServer({ cliPath, dbFile: path.join(tmp, 'temporal.db'), logFile: path.join(tmp, 'temporal.log') });
  const { ports } = server;
  expect(server.address).toBe(`127.0.0.1:${ports.grpc}`);
  expect(server.uiUrl).toBe(`http://127.0.0.1:${ports.ui}`);
  expect(server.namespace).toBe('default');
  expect(new Set([ports.grpc, ports.ui, ports.http, ports.metrics]).size).toBe(4);
  if (process.env.TEMPORAL_ADDRESS) expect(server.address).not.toBe(process.env.TEMPORAL_ADDRESS);
  expect(server.args).toEqual(expect.arrayContaining(['--sqlite-pragma', 'journal_mode=WAL', 'synchronous=OFF', '--db-filename']));

  const connection = await Connection.connect({ address: server.address });
  try {
    const sa = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const { name, type } of SEARCH_ATTRIBUTE_REGISTRATIONS) {
      expect(sa.customAttributes?.[name]).toBeDefined();
      expect(String(sa.customAttributes?.[name])).toBe(String(type === 'Keyword' ? 2 : 7)); // INDEXED_VALUE_TYPE_KEYWORD(_LIST)
    }
    const ui = await fetch(server.uiUrl);
    expect(ui.status).toBe(200);
    const metrics = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    expect(metrics.status).toBe(200);
    await metrics.text();
    await ui.text();

    // A workflow with no worker simply stays open: enough to see data survive a restart.
    const client = new Client({ connection });
    const workflowId = `dev-server-test-${Date.now()}`;
    await client.workflow.start('NoSuchWorkflow', {
      taskQueue: 'nobody-listens',
      workflowId,
      typedSearchAttributes: [{ key: SA.symbol, value: 'BTCUSDT' }],
    });

    const oldPid = server.pid!;
    await server.stop();
    expect(server.running).toBe(false);
    expect(alive(oldPid)).toBe(false);
    expect(await canConnect(ports.grpc)).toBe(false);
    expect(await isPortFree(ports.grpc)).toBe(true);
    await server.stop(); // idempotent

    await server.start();
    expect(server.running).toBe(true);
    expect(server.address).toBe(`127.0.0.1:${ports.grpc}`);
    expect(server.pid).not.toBe(oldPid);
    // The same connection object reconnects on its own.
    const desc = await client.workflow.getHandle(workflowId).describe();
    expect(desc.status.name).toBe('RUNNING');
    expect(desc.typedSearchAttributes.get(SA.symbol)).toBe('BTCUSDT');

    const beforeRestart = server.pid!;
    await server.restart();
    expect(server.pid).not.toBe(beforeRestart);
    expect(alive(beforeRestart)).toBe(false);
    expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
  } finally {
    await connection.close();
  }

  const lastPid = server.pid!;
  await server.stop();
  expect(alive(lastPid)).toBe(false);
  for (const p of [ports.grpc, ports.ui!, ports.http, ports.metrics]) expect(await isPortFree(p)).toBe(true);
});

test('a custom namespace, headless, in memory', async () => {
  const s = await startTemporalDevServer({ cliPath: await ensureTemporalCli(() => undefined), namespace: 'ops-test', ui: false });
  try {
    expect(s.namespace).toBe('ops-test');
    expect(s.uiUrl).toBe('');
    expect(s.args).toContain('--headless');
    const connection = await Connection.connect({ address: s.address });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace: 'ops-test' });
      expect(ns.namespaceInfo?.name).toBe('ops-test');
    } finally {
      await connection.close();
    }
  } finally {
    await s.stop();
  }
});

/** The value of each `--sqlite-pragma` in an argument list. */
const pragmas = (args: readonly string[]) => args.flatMap((a, i) => (args[i - 1] === '--sqlite-pragma' ? [a] : []));

test("npm start's dev server keeps its state through a power cut: WAL with synchronous=FULL in DATA_DIR; tests keep the fast settings", () => {
  const ports = { grpc: 1, ui: 2, http: 3, metrics: 4 };
  const npmStart = npmStartTemporalOptions({ dataDir: '/srv/trade-exec/.data' });
  const args = devServerArgs(npmStart, ports);
  expect(args).toEqual(expect.arrayContaining(['--db-filename', '/srv/trade-exec/.data/temporal.db']));
  expect(pragmas(args)).toEqual(['journal_mode=WAL', 'synchronous=FULL']);
  // The suite's and the benchmarks' servers: fast, crash of the process only.
  expect(pragmas(devServerArgs({ dbFile: '/tmp/t.db' }, ports))).toEqual(['journal_mode=WAL', 'synchronous=OFF']);
  expect(pragmas(devServerArgs({ dbFile: '/tmp/t.db', fastSqlite: true }, ports))).toEqual(['journal_mode=WAL', 'synchronous=OFF']);
});

test('the durable settings are accepted by the CLI: the server starts with them and writes a WAL', async () => {
  const dataDir = path.join(tmp, 'durable');
  const s = await startTemporalDevServer({ ...npmStartTemporalOptions({ dataDir }), cliPath: await ensureTemporalCli(() => undefined), ui: false });
  try {
    expect(pragmas(s.args)).toEqual(['journal_mode=WAL', 'synchronous=FULL']);
    const connection = await Connection.connect({ address: s.address });
    try {
      await new Client({ connection }).workflow.start('NoSuchWorkflow', { taskQueue: 'nobody-listens', workflowId: `durable-${Date.now()}` });
    } finally {
      await connection.close();
    }
    expect(fs.existsSync(path.join(dataDir, 'temporal.db-wal'))).toBe(true);
  } finally {
    await s.stop();
  }
});
