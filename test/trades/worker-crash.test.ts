/**
 * The worker is killed with SIGKILL while orders rest on the exchange and while submissions are
 * in flight, then restarted. Every trade must finish with exactly one order per client order id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { readReports } from '../support/streams';
import { eventually, startTradeHarness, workerProcessEnv, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;
let worker: ChildProcess | undefined;
const ROOT = path.resolve(__dirname, '../..');

/** Runs `npm start`'s entry point with only the worker role, as a separate process. */
async function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/operations/main.ts'], {
    cwd: ROOT,
    env: workerProcessEnv(h, {
      BINANCE_WS_API_URL: h.paper.wsUrl,
      BINANCE_RECV_WINDOW: '3000',
      LOG_LEVEL: 'warn',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  await eventually('the worker process to be ready', () => {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}:\n${output}`);
    return output.includes('trade-exec is ready');
  }, 60_000);
  return child;
}

function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(async () => {
  h = await startTradeHarness({ name: 'workercrash', worker: false, recvWindowMs: 1500 });
  h.paper.setPrice('BTCUSDT', '60000');
}, 120_000);
// Each test ends with its worker gone: the next one starts its own (a worker left running would
// also serve the next test's trades, and outlive the suite).
afterEach(() => kill(worker));
afterAll(async () => {
  await kill(worker);
  await h?.stop();
});

async function expectExactlyOneOrderEach(workflowIds: string[]): Promise<void> {
  const finals = [];
  for (const workflowId of workflowIds) finals.push([workflowId, await h.svc.temporal.workflow.getHandle(workflowId).result()] as const);
  const reports = await readReports(h.redis);
  for (const [workflowId, final] of finals) {
    expect(final.status).toBe('filled');
    const cid = final.orders[0].intent.clientOrderId;
    expect(h.paper.orders('BTCUSDT').filter((o) => o.clientOrderId === cid)).toHaveLength(1);
    expect(reports.filter((r) => r.report.workflow_id === workflowId)).toHaveLength(1);
  }
}

test('SIGKILL while LIMIT orders rest; they fill while the worker is down; restart finishes every trade', async () => {
  worker = await startWorker();
  const handles = [];
  for (let i = 0; i < 5; i++) {
    handles.push(await h.start({ decision_id: h.id(`rest${i}`), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 600_000 }));
  }
  await eventually('five orders resting on the exchange', () => h.paper.orders('BTCUSDT').filter((o) => o.status === 'NEW').length === 5);
  // Claimed by the worker's stream: their workflows now sleep until it signals them.
  const ids = handles.map((x) => x.workflowId);
  await eventually('the five orders to be watched', async () => (await h.pg.query('SELECT 1 FROM orders WHERE workflow_id = ANY($1) AND watcher_id IS NOT NULL', [ids])).rowCount === 5);
  // Let the workflow task that claimed them complete: killed inside it, the task is retried on
  // the new worker, whose young stream cannot vouch yet, and the order is simply polled.
  await new Promise((r) => setTimeout(r, 3000));
  await kill(worker);

  h.paper.setPrice('BTCUSDT', '58900');
  expect(h.paper.orders('BTCUSDT').filter((o) => o.status === 'FILLED')).toHaveLength(5);

  // The new worker adopts the dead one's orders once its lease lapses, re-reads them with
  // openOrders and signals each: nothing else would wake these workflows for minutes.
  worker = await startWorker();
  await expectExactlyOneOrderEach(ids);
  for (const id of ids) {
    const final = await h.svc.temporal.workflow.getHandle(id).result();
    expect(final.orders[0].transitions.at(-1).reason).toMatch(/^push: FILLED/);
  }
}, 240_000);

test('SIGKILL while MARKET submissions are in flight; restart settles each by client order id', async () => {
  h.paper.setPrice('BTCUSDT', '60000');
  // Slow the exchange so that the kill lands between sending and hearing back.
  h.paper.faults.inject({ kind: 'latency', ms: 700, method: 'POST', path: '/api/v3/order', times: 0 });
  worker = await startWorker();
  const handles = [];
  for (let i = 0; i < 6; i++) handles.push(await h.start({ decision_id: h.id(`inflight${i}`) }));
  const before = h.paper.orders('BTCUSDT').length;
  // Kill as soon as the first submission lands: the others are then between send and answer.
  await eventually('the first submission to reach the exchange', () => h.paper.orders('BTCUSDT').length > before, 30_000);
  await kill(worker);
  h.paper.faults.clear();

  worker = await startWorker();
  await expectExactlyOneOrderEach(handles.map((x) => x.workflowId));
}, 240_000);
