/**
 * Issue 11, item 3: an operator update (cancel, amend, closeNow) that arrives when
 * continue-as-new is due must be carried out and answered, never deadlock the trade.
 *
 * `historyEventLimit: 1` makes continue-as-new due on every iteration of the follow loop, so
 * whenever the update arrives, the loop is about to roll the history over. The update's
 * handler waits for the loop to perform its operation; a loop that waits for every handler to
 * finish before continuing as new would wait for ever. Each wait here is bounded, so a
 * deadlock fails the test instead of hanging the suite.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { dec } from '../../src/shared/decimal';
import type { TradeState } from '../../src/shared/trade';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);
const ANSWER_WITHIN_MS = 45_000;
const started: WorkflowHandle[] = [];

const h = useTradeHarness(
  { name: 'updatecan' },
  // A deadlocked run (old code) would otherwise rest for ever on the shared dev server.
  { beforeStop: () => Promise.all(started.map((handle) => handle.terminate('test over').catch(() => undefined))) },
);

/** A LIMIT BUY resting well below the market, with continue-as-new due on every loop iteration. */
async function restingWithRollover(name: string): Promise<WorkflowHandle> {
  const handle = await h.start(
    { decision_id: h.id(name), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.002', timeout_ms: 600_000 },
    30_000,
    { historyEventLimit: 1 },
  );
  started.push(handle);
  const firstRunId = (await handle.describe()).runId;
  await eventually('the entry to rest', async () => {
    const s = await h.state(handle).catch(() => undefined);
    return s?.status === 'working' && s.orders[0]?.exchange?.status === 'NEW' ? s : undefined;
  }, 60_000);
  // It really rolls over: at least one continue-as-new happened before the update.
  await eventually('a continue-as-new', async () => ((await handle.describe()).runId !== firstRunId ? true : undefined), 60_000);
  return handle;
}

/** Resolves with the update's outcome, or 'no answer' once the bound has passed. */
async function boundedUpdate(send: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<string>((r) => {
    timer = setTimeout(() => r(`no answer within ${ANSWER_WITHIN_MS} ms`), ANSWER_WITHIN_MS);
  });
  const update = send().then(
    () => 'answered',
    (e: unknown) => `refused: ${e instanceof Error ? e.message : String(e)}`,
  );
  try {
    return await Promise.race([update, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function boundedResult(handle: WorkflowHandle): Promise<TradeState | string> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<string>((r) => {
    timer = setTimeout(() => r(`the trade did not end within ${ANSWER_WITHIN_MS} ms`), ANSWER_WITHIN_MS);
  });
  try {
    return await Promise.race([h.result(handle), bound]);
  } finally {
    clearTimeout(timer);
  }
}

function liveOrdersOf(state: TradeState): string[] {
  const ids = new Set(state.orders.map((o) => o.intent.clientOrderId));
  return h.paper
    .orders(BTC)
    .filter((o) => ids.has(o.clientOrderId) && OPEN.has(o.status))
    .map((o) => `${o.clientOrderId} ${o.status}`);
}

test('cancel update while continue-as-new is due: answered, the order is cancelled and the trade ends', async () => {
  const handle = await restingWithRollover('cancel');
  expect(await boundedUpdate(() => handle.executeUpdate('cancel', { args: [{ reason: 'operator' }] }))).toBe('answered');
  const result = await boundedResult(handle);
  expect(typeof result === 'string' ? result : result.status).toBe('cancelled');
  expect(liveOrdersOf(result as TradeState)).toEqual([]);
});

test('amend update while continue-as-new is due: answered with the new price, and the trade goes on', async () => {
  const handle = await restingWithRollover('amend');
  expect(await boundedUpdate(() => handle.executeUpdate('amend', { args: [{ price: '49000' }] }))).toBe('answered');
  const s = await h.state(handle);
  const working = s.orders.filter((o) => s.working.includes(o.intent.clientOrderId));
  expect(working.map((o) => dec(o.exchange?.price ?? '0').toFixed())).toEqual(['49000']);
  // Still rolling over afterwards, and still obeying: a cancel ends it.
  expect(await boundedUpdate(() => handle.executeUpdate('cancel', { args: [{}] }))).toBe('answered');
  const result = await boundedResult(handle);
  expect(typeof result === 'string' ? result : result.status).toBe('cancelled');
  expect(liveOrdersOf(result as TradeState)).toEqual([]);
});

test('closeNow update while continue-as-new is due: answered, the rest is bought at market and the trade ends filled', async () => {
  const handle = await restingWithRollover('close');
  expect(await boundedUpdate(() => handle.executeUpdate('closeNow'))).toBe('answered');
  const result = await boundedResult(handle);
  expect(typeof result === 'string' ? result : result.status).toBe('filled');
  const final = result as TradeState;
  const executed = final.orders.reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
  expect(executed.toFixed()).toBe('0.002');
  expect(liveOrdersOf(final)).toEqual([]);
});
