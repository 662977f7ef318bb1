/**
 * The operator CLI, run as a child process (bin/trade-exec.js) against the real test services:
 * Temporal, Postgres, Redis, a running worker + bridge and the paper exchange.
 */
import { createHmac } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Client } from 'pg';
import { startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { runCli } from '../../src/operations/cli';
import { COMMANDS } from '../../src/operations/cli/commands';
import type { TradeState } from '../../src/shared/trade';
import { until } from '../support/streams';
import { dec } from '../../src/shared/exact-decimal';
import { restingBuyPrice, runCliProcess, startTestStack, waitForState, type TestStack } from '../ui/helpers';

let stack: TestStack;
const cli = (...args: string[]) => runCliProcess(args, stack.env);
const did = (name: string) => `cli-${stack.run}-${name}`;

beforeAll(async () => {
  stack = await startTestStack('cli', { redisDb: 11 });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

/** In-process, for the help texts only (fast); everything else goes through the child process. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} });
  return { code, stdout, stderr };
}

test('help: the main help lists every command, and every command has its own help', async () => {
  const main = await inProcess(['--help']);
  expect(main.code).toBe(0);
  for (const c of COMMANDS) {
    expect(main.stdout).toContain(`  ${c.name} `);
    const viaFlag = await inProcess([c.name, '--help']);
    const viaHelp = await inProcess(['help', c.name]);
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stdout).toBe(viaHelp.stdout);
    expect(viaFlag.stdout).toContain(`Usage: ${c.usage}`);
    expect(viaFlag.stdout).toContain('TEMPORAL_ADDRESS');
    for (const opt of Object.keys(c.options)) expect(viaFlag.stdout).toContain(`--${opt}`);
  }
  // The real binary prints the same help.
  const bin = await cli('--help');
  expect(bin.code).toBe(0);
  expect(bin.stdout).toBe(main.stdout);
});

test('errors are one line with a distinct exit code; --json makes them JSON', async () => {
  // Independent processes: run them side by side.
  const [unknown, badOption, badStatus, missing, invalid, noTemporal, badConfig, noDb] = await Promise.all([
    cli('frobnicate'),
    cli('list', '--colour', 'red'),
    cli('list', '--status', 'sleeping'),
    cli('show', did('never-sent'), '--json'),
    cli('send', '--type', 'LIMIT'),
    runCliProcess(['list'], { ...stack.env, TEMPORAL_ADDRESS: '127.0.0.1:1' }),
    runCliProcess(['list'], { ...stack.env, TEMPORAL_ADDRESS: 'not an address' }),
    runCliProcess(['portfolio'], { ...stack.env, DATABASE_URL: '' }),
  ]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  expect(unknown.stderr).toMatch(/^trade-exec: unknown command "frobnicate"/);

  expect(badOption.code).toBe(2);
  expect(badOption.stderr).toMatch(/Unknown option '--colour'/);

  expect(badStatus.code).toBe(2);
  expect(badStatus.stderr).toContain('--status must be one of');

  expect(missing.code).toBe(3);
  expect(JSON.parse(missing.stderr)).toEqual({ error: expect.stringContaining(`no trade trade-${did('never-sent')}`), exitCode: 3 });

  expect(invalid.code).toBe(2);
  expect(invalid.stderr).toContain('limit_price: is required for a LIMIT order');

  expect(noTemporal.code).toBe(1);
  expect(noTemporal.stderr.trim().split('\n')).toHaveLength(1);
  expect(noTemporal.stderr).toContain('cannot reach Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS)');

  expect(badConfig.code).toBe(2);
  expect(badConfig.stderr).toContain('TEMPORAL_ADDRESS: must be host:port');

  expect(noDb.code).toBe(2);
  expect(noDb.stderr).toContain('DATABASE_URL is not set');
});

test('send --wait: a MARKET decision goes through the bridge and reports filled; portfolio shows the position', async () => {
  const id = did('market');
  const sent = await cli('send', '--id', id, '--side', 'BUY', '--qty', '0.002', '--wait', '--json');
  expect(sent.stderr).toContain('waiting for its execution report');
  expect(sent.code).toBe(0);
  const out = JSON.parse(sent.stdout);
  expect(out).toMatchObject({ decisionId: id, workflowId: `trade-${id}`, stream: 'risk_decisions' });
  expect(out.report).toMatchObject({ decision_id: id, status: 'filled', success: true, filled_quantity: '0.002', side: 'BUY' });
  expect(stack.paper.findOrder('BTCUSDT', out.report.client_order_id)?.status).toBe('FILLED');

  const pf = await cli('portfolio', '--json');
  expect(pf.code).toBe(0);
  const report = JSON.parse(pf.stdout);
  const btc = report.positions.find((p: { symbol: string }) => p.symbol === 'BTCUSDT');
  expect(btc).toBeDefined();
  expect(btc.direction).toBe('LONG');
  expect(Number(btc.quantity)).toBeGreaterThan(0);
  expect(Number(btc.mark_price)).toBeGreaterThan(0); // marked at the paper exchange's price

  const [table, noMarks] = await Promise.all([cli('portfolio'), cli('portfolio', '--no-marks', '--json')]);
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/Positions\n/);
  expect(table.stdout).toMatch(/BTCUSDT\s+LONG/);
  expect(noMarks.code).toBe(0);
  const unmarked = JSON.parse(noMarks.stdout);
  expect(unmarked.positions.find((p: { symbol: string }) => p.symbol === 'BTCUSDT').unrealized_pnl).toBeNull();
  expect(unmarked.notes[0]).toContain('--no-marks');
});

test('list filters by symbol, side and status; show, amend, close and cancel drive resting orders', async () => {
  const price = restingBuyPrice(stack.paper);
  const a = did('rest-a');
  const b = did('rest-b');
  const c = did('rest-c');
  const eth = did('rest-eth');
  const ethPrice = restingBuyPrice(stack.paper, 'ETHUSDT');
  const sends = await Promise.all([
    ...[a, b, c].map((id) => cli('send', '--id', id, '--type', 'LIMIT', '--price', price, '--qty', '0.001')),
    cli('send', '--id', eth, '--symbol', 'ETHUSDT', '--type', 'LIMIT', '--price', ethPrice, '--qty', '0.01'),
  ]);
  for (const [i, id] of [a, b, c, eth].entries()) {
    expect(sends[i]!.code).toBe(0);
    expect(sends[i]!.stdout).toContain(`sent decision ${id} to risk_decisions`);
  }
  for (const id of [a, b, c, eth]) await waitForState(stack.svc, `trade-${id}`, (s) => s.status === 'working');

  const [listed, ethListed, sellListed, humanList, shown, human] = await Promise.all([
    cli('list', '--symbol', 'btcusdt', '--side', 'BUY', '--status', 'working', '--json'),
    cli('list', '--symbol', 'ETHUSDT', '--json'),
    cli('list', '--side', 'SELL', '--json'),
    cli('list', '--symbol', 'BTCUSDT'),
    cli('show', a, '--json'),
    cli('show', `trade-${a}`),
  ]);
  expect(listed.code).toBe(0);
  const rows = JSON.parse(listed.stdout);
  expect(rows.query).toContain("TradeSymbol = 'BTCUSDT'");
  expect(rows.trades.map((t: { workflowId: string }) => t.workflowId).sort()).toEqual([a, b, c].map((x) => `trade-${x}`).sort());
  expect(rows.trades[0]).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', orderType: 'LIMIT', tradeStatus: 'working', executionStatus: 'RUNNING' });
  const ethOnly = JSON.parse(ethListed.stdout);
  expect(ethOnly.trades.map((t: { workflowId: string }) => t.workflowId)).toEqual([`trade-${eth}`]);
  const sells = JSON.parse(sellListed.stdout);
  expect(sells.trades).toEqual([]);
  expect(humanList.stdout).toMatch(/WORKFLOW ID\s+SYMBOL\s+SIDE/);
  expect(humanList.stdout).toContain('3 trades');

  // show: the live state from the getState query.
  expect(shown.code).toBe(0);
  const state = JSON.parse(shown.stdout).state as TradeState;
  expect(state.status).toBe('working');
  const entry = state.orders[0]!;
  expect(entry.intent).toMatchObject({ type: 'LIMIT', price, quantity: '0.001' });
  expect(entry.exchange?.status).toBe('NEW');
  expect(human.stdout).toContain(`trade-${a}  BUY 0.001 BTCUSDT LIMIT  status working`);
  expect(human.stdout).toContain(entry.intent.clientOrderId);

  // amend: cancel-replace at a new price; the old order is cancelled on the exchange.
  const newPrice = dec(price).minus(100).toString();
  const amended = await cli('amend', a, '--price', newPrice, '--json');
  expect(amended.code).toBe(0);
  const afterAmend = JSON.parse(amended.stdout);
  expect(afterAmend.operation).toMatchObject({ kind: 'amend', status: 'done' });
  const replacement = (afterAmend.state as TradeState).orders.find((o) => o.intent.purpose === 'replacement')!;
  expect(stack.paper.findOrder('BTCUSDT', entry.intent.clientOrderId)?.status).toBe('CANCELED');
  const replacementOnExchange = stack.paper.findOrder('BTCUSDT', replacement.intent.clientOrderId);
  expect(replacementOnExchange?.status).toBe('NEW');
  expect(dec(replacementOnExchange!.price).eq(newPrice)).toBe(true);
  const badAmend = await cli('amend', a, '--quantity', '5');
  expect(badAmend.code).toBe(1);
  expect(badAmend.stderr).toMatch(/^trade-exec: amend refused for trade-/);
  expect(badAmend.stderr.trim().split('\n')).toHaveLength(1);

  // cancel (update): the exchange order is cancelled, the trade ends cancelled.
  const cancelled = await cli('cancel', a, '--reason', 'cli test');
  expect(cancelled.code).toBe(0);
  expect(cancelled.stdout).toMatch(/^cancel done/);
  expect(stack.paper.findOrder('BTCUSDT', replacement.intent.clientOrderId)?.status).toBe('CANCELED');
  await waitForState(stack.svc, `trade-${a}`, (s) => s.status === 'cancelled');

  // close at market: the resting order is cancelled and a MARKET order fills the rest.
  const closed = await cli('close', b, '--json');
  expect(closed.code).toBe(0);
  const closedState = JSON.parse(closed.stdout).state as TradeState;
  const market = closedState.orders.find((o) => o.intent.purpose === 'close')!;
  expect(market.intent.type).toBe('MARKET');
  expect(stack.paper.findOrder('BTCUSDT', closedState.orders[0]!.intent.clientOrderId)?.status).toBe('CANCELED');
  expect(stack.paper.findOrder('BTCUSDT', market.intent.clientOrderId)?.status).toBe('FILLED');

  // cancel --workflow: Temporal cancellation; the workflow cancels its order and closes.
  const wfCancel = await cli('cancel', c, '--workflow', '--json');
  expect(wfCancel.code).toBe(0);
  expect(JSON.parse(wfCancel.stdout)).toEqual({ workflowId: `trade-${c}`, cancelRequested: true, executionStatus: 'CANCELLED' });
  const cState = await stack.svc.temporal.workflow.getHandle(`trade-${c}`).query('getState') as TradeState;
  expect(stack.paper.findOrder('BTCUSDT', cState.orders[0]!.intent.clientOrderId)?.status).toBe('CANCELED');

  const again = await cli('cancel', c);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('is CANCELLED: nothing to cancel');

  await cli('cancel', eth, '--workflow', '--no-wait');
}, 150_000);

test('halt --cancel-open / resume: running trades are cancelled, new decisions are recorded and refused `halted`, then trade again', async () => {
  const pg = new Client({ connectionString: stack.db.url });
  await pg.connect();
  const runningTrades = async () => {
    const ids: string[] = [];
    for await (const wf of stack.svc.temporal.workflow.list({ query: `TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running'` })) ids.push(wf.workflowId);
    return ids;
  };
  try {
    // Whatever earlier tests left running has ended (or, should one of them have failed midway,
    // is terminated), so this test owns what is running.
    await until('no trade running', async () => (await runningTrades()).length === 0, 20_000).catch(async () => {
      for (const id of await runningTrades()) await stack.svc.temporal.workflow.getHandle(id).terminate('left over by an earlier test');
    });
    const resting = did('halt-resting');
    expect((await cli('send', '--id', resting, '--type', 'LIMIT', '--price', restingBuyPrice(stack.paper), '--qty', '0.001')).code).toBe(0);
    const working = await waitForState(stack.svc, `trade-${resting}`, (st) => st.status === 'working');
    const orderId = working.orders[0]!.intent.clientOrderId;

    const halted = await cli('halt', '--reason', 'cli test: exchange incident', '--cancel-open', '--by', 'cli-test', '--json');
    expect(halted.stderr).toContain('trading halted at');
    expect(halted.code).toBe(0);
    const h = JSON.parse(halted.stdout);
    expect(h).toMatchObject({ halted: true, reason: 'cli test: exchange incident', changed_by: 'cli-test' });
    expect(h.cancels).toEqual([{ workflowId: `trade-${resting}`, outcome: 'cancelled', detail: expect.any(String) }]);
    await waitForState(stack.svc, `trade-${resting}`, (st) => st.status === 'cancelled');
    expect(stack.paper.findOrder('BTCUSDT', orderId)?.status).toBe('CANCELED');

    // While halted: recorded with its rule and reason, dead-lettered, never started.
    const during = did('halt-during');
    expect((await cli('send', '--id', during)).code).toBe(0);
    const refused = await until('the refusal recorded', async () => {
      const r = await pg.query('SELECT status, refused_rule, reasons FROM decisions WHERE decision_id = $1', [during]);
      return r.rows[0]?.refused_rule ? r.rows[0] : undefined;
    });
    expect(refused).toEqual({
      status: 'invalid',
      refused_rule: 'halted',
      reasons: ['halted: trading is halted (cli test: exchange incident); run `trade-exec resume` to trade again; not executed'],
    });
    const dead = (await stack.redis.xrange('risk_decisions:dead', '-', '+')).map(([, f]) => f);
    expect(dead.find((f) => f[f.indexOf('data') + 1]?.includes(during))?.[3]).toBe('halted'); // dead_reason, ..., dead_rule, halted
    await expect(stack.svc.temporal.workflow.getHandle(`trade-${during}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const human = await cli('halt', '--reason', 'still halted');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^trading halted: still halted \(by .+@.+ \(trade-exec CLI\), \d{4}-/);

    const resumed = await cli('resume', '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ halted: false, reason: null });
    const after = did('halt-after');
    const sent = await cli('send', '--id', after, '--wait', '--json');
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout).report).toMatchObject({ decision_id: after, status: 'filled' });

    const log = await pg.query('SELECT halted, reason, changed_by FROM trading_halt_log ORDER BY id');
    expect(log.rows.map((r) => [r.halted, r.reason])).toEqual([
      [true, 'cli test: exchange incident'],
      [true, 'still halted'],
      [false, null],
    ]);
  } finally {
    await pg.query('UPDATE trading_halt SET halted = false').catch(() => undefined);
    await pg.end();
  }
}, 150_000);

test('send signs its decision when DECISION_SIGNING_KEY is set (sig = HMAC-SHA256 of the data field), and never prints the key', async () => {
  const key = `cli-signing-key-${stack.run}-0123456789abcdef`;
  const id = did('signed');
  const sent = await runCliProcess(['send', '--id', id, '--json'], { ...stack.env, DECISION_SIGNING_KEY: key });
  expect(sent.code).toBe(0);
  expect(sent.stdout + sent.stderr).not.toContain(key);
  const out = JSON.parse(sent.stdout);
  expect(out.signed).toBe(true);
  const fields = (await stack.redis.xrange('risk_decisions', out.streamEntryId, out.streamEntryId))[0]![1];
  const data = fields[fields.indexOf('data') + 1]!;
  expect(fields[fields.indexOf('sig') + 1]).toBe(createHmac('sha256', key).update(data).digest('hex'));
  // Unset: no sig field at all.
  const plain = JSON.parse((await cli('send', '--id', did('unsigned'), '--json')).stdout);
  expect(plain.signed).toBe(false);
  const plainFields = (await stack.redis.xrange('risk_decisions', plain.streamEntryId, plain.streamEntryId))[0]![1];
  expect(plainFields).not.toContain('sig');
  // A key too short to be one is a configuration error that does not echo it.
  const short = await runCliProcess(['send'], { ...stack.env, DECISION_SIGNING_KEY: 'short-key-123' });
  expect(short.code).toBe(2);
  expect(short.stderr).toContain('DECISION_SIGNING_KEY: must be at least 32 characters');
  expect(short.stderr).not.toContain('short-key-123');
});

test('health: every configured dependency, and --pollers needs a worker on the task queue', async () => {
  const [ok, withPollers, noWorker, badRedis] = await Promise.all([
    cli('health', '--json'),
    cli('health', '--pollers'),
    runCliProcess(['health', '--pollers'], { ...stack.env, TEMPORAL_TASK_QUEUE: `nobody-${stack.run}` }),
    runCliProcess(['health'], { ...stack.env, REDIS_URL: 'redis://127.0.0.1:1' }),
  ]);
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.stdout).checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
    ['temporal', true],
    ['postgres', true],
    ['redis', true],
    ['exchange', true],
  ]);
  expect(withPollers.code).toBe(0);
  expect(withPollers.stdout).toMatch(/ok\s+temporal .*\d+ pollers? on /);
  expect(noWorker.code).toBe(1);
  expect(noWorker.stderr).toContain(`no worker polls task queue nobody-${stack.run}`);
  expect(badRedis.code).toBe(1);
  expect(badRedis.stdout).toMatch(/FAIL\s+redis/);
  expect(badRedis.stderr.trim().split('\n')).toHaveLength(1);
});

describe('exchange status', () => {
  let skewed: PaperExchange;
  beforeAll(async () => {
    skewed = await startPaperExchange({ port: 0 });
    skewed.faults.inject({ kind: 'clockSkew', ms: 3000, times: 0 });
  });
  afterAll(() => skewed?.close());

  test('shows the clock offset, the rate limits and the account', async () => {
    const r = await runCliProcess(['exchange', 'status', '--json'], { ...stack.env, BINANCE_BASE_URL: skewed.url });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ baseUrl: skewed.url, reachable: true, keys: 'configured', account: { canTrade: true } });
    // The exchange clock runs 3 s ahead: the measured offset says so (within a loopback round trip).
    expect(s.clockOffsetMs).toBeGreaterThan(2000);
    expect(s.clockOffsetMs).toBeLessThan(4000);
    expect(s.usedWeight1m).toBeGreaterThan(0);
    expect(s.budget).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'REQUEST_WEIGHT', interval: '1 MINUTE', limit: 6000 })]));

    const human = await runCliProcess(['exchange', 'status'], { ...stack.env, BINANCE_BASE_URL: skewed.url });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/clock\s+exchange - local = \d+ ms/);
    expect(human.stdout).toMatch(/REQUEST_WEIGHT\s+1 MINUTE/);

    const down = await runCliProcess(['exchange', 'status'], { ...stack.env, BINANCE_BASE_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^trade-exec: exchange at http:\/\/127\.0\.0\.1:1 \(BINANCE_BASE_URL\) does not answer/);
  });
});
