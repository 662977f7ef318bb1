/**
 * Every operator update's validator (workflows/operator-validation.ts) and the signals beside
 * them (workflows/definitions.ts): each refused input is answered with its reason and leaves
 * the trade as it was (no operation recorded, nothing sent); each accepted one takes effect on
 * the exchange and in the state.
 */
import type { WorkflowHandle } from '@temporalio/client';
import * as messages from '../../workflows/definitions';
import type { TradeState } from '../../src/shared/trade';
import { refused } from '../support/refused';
import { cidFor, eventually, startWorkflowHarness, type TradeHandle, type WorkflowHarness } from './support/workflow-harness';

let h: WorkflowHarness;

beforeAll(async () => {
  h = await startWorkflowHarness({ name: 'operators' });
}, 60_000);
afterAll(() => h?.stop());
afterEach(() => {
  h.exchange.on.newOrder = (req, hooks, venue) => venue.accept(req, hooks);
  h.exchange.on.myTrades = (q, _hooks, venue) => venue.trades.filter((t) => t.symbol === q.symbol && t.orderId === q.orderId);
});

const cidOf = (decisionId: string, suffix: 'e' | 'r1' | 'x1' = 'e') =>
  cidFor(decisionId, suffix === 'e' ? { kind: 'entry' } : suffix === 'r1' ? { kind: 'replacement', n: 1 } : { kind: 'close', n: 1 });
/** What the exchange was asked about this decision's orders (entry, first replacement, first close). */
const sentFor = (decisionId: string, method: 'newOrder' | 'cancelOrder' | 'amendOrderKeepPriority') => {
  const mine = new Set([cidOf(decisionId), cidOf(decisionId, 'r1'), cidOf(decisionId, 'x1')]);
  return h.exchange.callsOf(method).filter((c) => mine.has(String(c.args.newClientOrderId ?? c.args.origClientOrderId)));
};

/** A BUY LIMIT 0.002 @ 59000 resting on the venue, `filled` of it executed at once (seen by the first poll). */
async function resting(name: string, filled?: string, extra: Record<string, unknown> = {}): Promise<{ handle: TradeHandle; decisionId: string; cid: string; state: TradeState }> {
  const decisionId = h.id(name);
  const cid = cidOf(decisionId);
  if (filled) {
    h.exchange.on.newOrder = (req, hooks, venue) => {
      const answer = venue.accept(req, hooks);
      if (req.newClientOrderId === cid) venue.fill(cid, filled);
      return answer;
    };
  }
  const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 300_000, ...extra });
  const state = await h.until(handle, 'the order to rest', (s) => s.status === 'working' && s.orders[0]?.state === (filled ? 'partially_filled' : 'submitted'));
  return { handle, decisionId, cid, state };
}

/**
 * A BUY LIMIT 0.002 @ 59000 filled whole at once, its fill being booked: settleFills reads
 * myTrades (a resting order's response listed no fills), and that read is held until `release()`.
 */
async function bookingHeld(name: string): Promise<{ handle: TradeHandle; decisionId: string; release: () => void }> {
  const decisionId = h.id(name);
  const cid = cidOf(decisionId);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let booking = false;
  h.exchange.on.newOrder = (req, hooks, venue) => {
    const answer = venue.accept(req, hooks);
    if (req.newClientOrderId === cid) venue.fill(cid, '0.002');
    return answer;
  };
  h.exchange.on.myTrades = async (q, _hooks, venue) => {
    booking = true;
    await held;
    return venue.trades.filter((t) => t.orderId === q.orderId);
  };
  const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 300_000 });
  await h.until(handle, 'the fill to be booked', () => booking);
  return { handle, decisionId, release };
}

/** Nothing changed: no operation recorded, the same orders in the same states, the same deadline. */
async function unchanged(handle: WorkflowHandle, before: TradeState): Promise<void> {
  const now = await h.state(handle);
  expect(now.operations).toEqual(before.operations);
  expect(now.orders.map((o) => [o.intent.clientOrderId, o.state, o.exchange?.origQty])).toEqual(before.orders.map((o) => [o.intent.clientOrderId, o.state, o.exchange?.origQty]));
  expect(now.deadline).toBe(before.deadline);
  expect(now.targetQty).toBe(before.targetQty);
}

test('cancel: accepted, the order is cancelled and the update answers with the state; a finished trade takes no update', async () => {
  const { handle, decisionId, cid } = await resting('cancel');
  const after = await handle.executeUpdate(messages.cancelUpdate, { args: [{ reason: 'risk off' }] });
  expect(after.orders[0]!.state).toBe('cancelled');
  expect(after.operations).toEqual([expect.objectContaining({ id: 1, kind: 'cancel', args: { reason: 'risk off' }, status: 'done', result: 'working orders cancelled' })]);
  expect(sentFor(decisionId, 'cancelOrder').map((c) => c.args)).toEqual([{ symbol: 'BTCUSDT', origClientOrderId: cid }]);
  const final = await handle.result();
  expect(final.status).toBe('cancelled');
  expect(final.error).toBe('cancelled by operator: risk off');
  expect(h.store.transitions.get(cid)!.map((t) => [t.to, t.reason])).toEqual([
    ['submitted', expect.stringMatching(/^submitted: NEW/)],
    ['cancel_requested', 'operator: risk off'],
    ['cancelled', expect.stringMatching(/^cancel \(operator: risk off\): CANCELED/)],
  ]);
  await expect(handle.executeUpdate(messages.cancelUpdate, { args: [{}] })).rejects.toThrow(/already completed/);
});

test('amend: each refused input is answered with its reason and changes nothing', async () => {
  const { handle, decisionId, state } = await resting('amendrefused', '0.0005');
  const amend = (req: unknown) => refused(handle.executeUpdate(messages.amendUpdate, { args: [req as { price?: string }] }));

  expect(await amend({})).toBe('amend: give a new price, a new quantity, or both');
  expect(await amend(undefined)).toBe('amend: give a new price, a new quantity, or both');
  expect(await amend({ price: 'abc' })).toBe('price: must be a positive decimal string such as "64000.5", got "abc"');
  expect(await amend({ price: '0' })).toBe('price: must be a positive decimal string such as "64000.5", got "0"');
  expect(await amend({ price: 59500 })).toBe('price: must be a positive decimal string such as "64000.5", got 59500');
  expect(await amend({ price: '1e5' })).toBe('price: must be a positive decimal string such as "64000.5", got "1e5"');
  expect(await amend({ quantity: '-1' })).toBe('quantity: must be a positive decimal string such as "0.002", got "-1"');
  expect(await amend({ quantity: '0.0005' })).toBe('quantity: 0.0005 is not more than the 0.00050000 already filled');
  expect(await amend({ quantity: '0.0021' })).toBe('quantity: 0.0021 exceeds the approved size 0.002');
  await unchanged(handle, state);
  expect(sentFor(decisionId, 'newOrder')).toHaveLength(1);
  expect(sentFor(decisionId, 'cancelOrder')).toHaveLength(0);
  expect(sentFor(decisionId, 'amendOrderKeepPriority')).toHaveLength(0);
  await handle.executeUpdate(messages.cancelUpdate, { args: [{ reason: 'test done' }] });
  expect((await handle.result()).status).toBe('partially_filled');
});

test('amend: a smaller quantity amends in place (keep priority); a new price cancels and places only the rest', async () => {
  const { handle, decisionId, cid } = await resting('amend', '0.0005');

  const smaller = await handle.executeUpdate(messages.amendUpdate, { args: [{ quantity: '0.0015' }] });
  expect(sentFor(decisionId, 'amendOrderKeepPriority').map((c) => c.args)).toEqual([{ symbol: 'BTCUSDT', origClientOrderId: cid, newClientOrderId: cid, newQty: '0.0015' }]);
  expect(smaller.targetQty).toBe('0.0015');
  expect(smaller.orders[0]!.exchange).toMatchObject({ origQty: '0.00150000', executedQty: '0.00050000' });
  expect(smaller.operations.at(-1)).toMatchObject({ kind: 'amend', status: 'done', result: `quantity of ${cid} amended to 0.0015 in place (queue priority kept)` });
  expect(h.exchange.orders.get(cid)?.origQty).toBe('0.00150000');

  const repriced = await handle.executeUpdate(messages.amendUpdate, { args: [{ price: '59500' }] });
  const replacement = cidOf(decisionId, 'r1');
  expect(sentFor(decisionId, 'cancelOrder').map((c) => c.args.origClientOrderId)).toEqual([cid]);
  // Only what the cancelled order had not executed: 0.0015 - 0.0005.
  expect(sentFor(decisionId, 'newOrder').map((c) => [c.args.newClientOrderId, c.args.type, c.args.quantity, c.args.price])).toEqual([
    [cid, 'LIMIT', '0.002', '59000'],
    [replacement, 'LIMIT', '0.001', '59500'],
  ]);
  expect(repriced.orders.map((o) => [o.intent.clientOrderId, o.intent.purpose, o.state])).toEqual([
    [cid, 'entry', 'cancelled'],
    [replacement, 'replacement', 'submitted'],
  ]);
  expect(repriced.operations.at(-1)).toMatchObject({ kind: 'amend', status: 'done', result: `replaced by ${replacement} for the rest, 0.001` });

  h.exchange.fill(replacement, '0.001');
  const final = await handle.result();
  expect(final.status).toBe('filled');
  expect(final.targetQty).toBe('0.0015');
  expect(h.store.tradeReports(handle.workflowId).map((r) => [r.status, r.filled_quantity])).toEqual([['filled', '0.0015']]);
});

test('amend: a resting MARKET order is refused', async () => {
  const decisionId = h.id('market');
  const cid = cidOf(decisionId);
  // The venue accepts the MARKET order without executing it yet (NEW).
  h.exchange.on.newOrder = (req, hooks, venue) => {
    if (req.newClientOrderId !== cid) return venue.accept(req, hooks);
    const answer = venue.accept({ ...req, type: 'LIMIT', price: '60000' }, hooks);
    venue.mustHave(cid).type = 'MARKET';
    return { ...answer, type: 'MARKET' };
  };
  const handle = await h.start({ decision_id: decisionId, approved_size: '0.001' });
  const state = await h.until(handle, 'the MARKET order to be open', (s) => s.status === 'working');
  expect(await refused(handle.executeUpdate(messages.amendUpdate, { args: [{ quantity: '0.0005' }] }))).toBe('amend: a MARKET order cannot be amended');
  await unchanged(handle, state);
  h.exchange.fill(cid, '0.001');
  expect((await handle.result()).status).toBe('filled');
});

test('close now: the rest of a partly filled LIMIT is cancelled and bought at market', async () => {
  const { handle, decisionId, cid } = await resting('closenow', '0.0005');
  const after = await handle.executeUpdate(messages.closeNowUpdate, { args: [] });
  const close = cidOf(decisionId, 'x1');
  expect(sentFor(decisionId, 'cancelOrder').map((c) => c.args.origClientOrderId)).toEqual([cid]);
  expect(sentFor(decisionId, 'newOrder').map((c) => [c.args.newClientOrderId, c.args.type, c.args.quantity])).toEqual([
    [cid, 'LIMIT', '0.002'],
    [close, 'MARKET', '0.0015'],
  ]);
  expect(after.operations).toEqual([expect.objectContaining({ kind: 'closeNow', status: 'done', result: `market order ${close} placed` })]);
  const final = await handle.result();
  expect(final.status).toBe('filled');
  expect(final.orders.map((o) => [o.intent.purpose, o.state, o.fills.filledQty])).toEqual([
    ['entry', 'cancelled', '0.0005'],
    ['close', 'filled', '0.0015'],
  ]);
});

test('set timeout: refused inputs with their reasons; an accepted one moves the deadline and the order is cancelled at it', async () => {
  const { handle, decisionId, cid, state } = await resting('timeout');
  const set = (req: unknown) => refused(handle.executeUpdate(messages.setTimeoutUpdate, { args: [req as { timeoutMs: number }] }));
  const whole = 'timeoutMs: must be a whole number of milliseconds, at least 1000';
  expect(await set({ timeoutMs: 10 })).toBe(whole);
  expect(await set({ timeoutMs: 1500.5 })).toBe(whole);
  expect(await set({ timeoutMs: '5000' })).toBe(whole);
  expect(await set({})).toBe(whole);
  await new Promise((r) => setTimeout(r, Math.max(0, state.startedAt + 1100 - Date.now())));
  expect(await set({ timeoutMs: 1000 })).toBe('timeoutMs: 1000 ms after the start is already in the past');
  // A signal has no one to answer: an invalid one is ignored.
  await handle.signal(messages.setTimeoutSignal, { timeoutMs: 5 });
  await unchanged(handle, state);

  const timeoutMs = Date.now() - state.startedAt + 1500;
  const after = await handle.executeUpdate(messages.setTimeoutUpdate, { args: [{ timeoutMs }] });
  expect(after.deadline).toBe(state.startedAt + timeoutMs);
  expect(after.operations).toEqual([expect.objectContaining({ kind: 'setTimeout', args: { timeoutMs }, status: 'done', result: `deadline ${new Date(after.deadline).toISOString()}` })]);
  const final = await handle.result();
  expect(final.status).toBe('cancelled');
  expect(final.error).toBe(`timed out: not filled within ${timeoutMs} ms; the rest was cancelled`);
  expect(final.orders[0]!.transitions.map((t) => t.reason)).toContain('timeout');
  const cancels = sentFor(decisionId, 'cancelOrder');
  expect(cancels.map((c) => c.args.origClientOrderId)).toEqual([cid]);
  expect(cancels[0]!.at).toBeGreaterThanOrEqual(after.deadline);
});

test('signals: an invalid amend is recorded as failed with its reason; requestCancel cancels', async () => {
  const { handle, decisionId, cid } = await resting('signals');
  await handle.signal(messages.amendSignal, { price: 'x' });
  await handle.signal(messages.cancelSignal, { reason: 'by signal' });
  const final = await handle.result();
  expect(final.status).toBe('cancelled');
  expect(final.operations.map((o) => [o.id, o.kind, o.status, o.result])).toEqual([
    [1, 'amend', 'failed', 'price: must be a positive decimal string such as "64000.5", got "x"'],
    [2, 'cancel', 'done', 'working orders cancelled'],
  ]);
  expect(sentFor(decisionId, 'cancelOrder').map((c) => c.args.origClientOrderId)).toEqual([cid]);
  expect(sentFor(decisionId, 'newOrder')).toHaveLength(1);
});

test('signals: requestCloseNow buys the rest at market', async () => {
  const { handle, decisionId } = await resting('signalclose');
  await handle.signal(messages.closeNowSignal);
  const final = await handle.result();
  expect(final.status).toBe('filled');
  expect(final.operations).toEqual([expect.objectContaining({ kind: 'closeNow', status: 'done', result: `market order ${cidOf(decisionId, 'x1')} placed` })]);
});

test('no open order (the fill is being booked): every update is refused with the trade status', async () => {
  const { handle, decisionId, release } = await bookingHeld('booking');
  const state = await h.state(handle);
  expect(state.orders[0]!.state).toBe('filled');
  const reason = `trade has no open order right now (status ${state.status})`;
  expect(await refused(handle.executeUpdate(messages.cancelUpdate, { args: [{ reason: 'late' }] }))).toBe(reason);
  expect(await refused(handle.executeUpdate(messages.amendUpdate, { args: [{ price: '59500' }] }))).toBe(reason);
  expect(await refused(handle.executeUpdate(messages.closeNowUpdate, { args: [] }))).toBe(reason);
  expect(await refused(handle.executeUpdate(messages.setTimeoutUpdate, { args: [{ timeoutMs: 60_000 }] }))).toBe(reason);
  await unchanged(handle, state);
  release();
  const final = await handle.result();
  expect(final.status).toBe('filled');
  expect(final.operations).toEqual([]);
  expect(sentFor(decisionId, 'cancelOrder')).toHaveLength(0);
});

// Found by this test: finish() answered pending requests only before it booked the fills, so a
// signal that came while settleFills ran stayed `pending` in the final state, never carried out.
test('a cancel signal that arrives while the fill is being booked is answered in the final state, not left pending', async () => {
  const { handle, release } = await bookingHeld('latesignal');
  await handle.signal(messages.cancelSignal, { reason: 'too late' });
  await h.until(handle, 'the signal to be recorded', (s) => s.operations.length === 1);
  release();
  const final = await handle.result();
  expect(final.status).toBe('filled');
  expect(final.operations).toEqual([expect.objectContaining({ kind: 'cancel', status: 'failed', result: 'the trade ended (filled) before the cancel could be carried out' })]);
});

test('a finished trade still publishing its report: every update is refused as already finished', async () => {
  const decisionId = h.id('finished');
  let release!: () => void;
  h.store.gate.saveReport = new Promise<void>((r) => (release = r));
  try {
    // A short workflow task timeout: while publishReport (a local activity) waits, the worker
    // heartbeats the task every 0.8 s, and each heartbeat takes in the updates sent meanwhile.
    const handle = await h.start({ decision_id: decisionId, approved_size: '0.001' }, {}, { workflowTaskTimeout: '1s' });
    await eventually('the report to be saved', () => h.store.calls.some((c) => c.method === 'saveReport' && c.key.includes(handle.workflowId)));
    const reason = 'trade is already filled; nothing to change';
    expect(await refused(handle.executeUpdate(messages.cancelUpdate, { args: [{}] }))).toBe(reason);
    expect(await refused(handle.executeUpdate(messages.amendUpdate, { args: [{ price: '1' }] }))).toBe(reason);
    expect(await refused(handle.executeUpdate(messages.closeNowUpdate, { args: [] }))).toBe(reason);
    expect(await refused(handle.executeUpdate(messages.setTimeoutUpdate, { args: [{ timeoutMs: 60_000 }] }))).toBe(reason);
    release();
    const final = await handle.result();
    expect(final.status).toBe('filled');
    expect(final.operations).toEqual([]);
    expect(sentFor(decisionId, 'newOrder')).toHaveLength(1);
    expect(sentFor(decisionId, 'cancelOrder')).toHaveLength(0);
  } finally {
    release();
    delete h.store.gate.saveReport;
  }
});
