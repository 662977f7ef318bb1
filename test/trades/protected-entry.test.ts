/**
 * Issue 13: a LIMIT entry with a take-profit and a stop-loss goes out with its protection as one
 * order list (a BUY as an OPOCO, a SELL as an OTOCO), so the exchange places the protective OCO
 * in the same matching step that fills the entry: there is no moment in which the position
 * exists unprotected while the workflow reacts. Real stack: Temporal dev server, Postgres,
 * Redis, the paper exchange over HTTP with its user data stream.
 *
 * "Before the workflow's next step" is shown with the exchange's own times: the pair's
 * `workingTime`/`updateTime` equal the entry's fill time, and the workflow only learns of the
 * fill later (its transition to `filled` is not earlier).
 */
import { dec } from '../../src/shared/decimal';
import type { TradeState } from '../../src/shared/trade';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';

const h = useTradeHarness({ name: 'protected' });

const count = (route: string): number => h.paper.requestCounts()[route] ?? 0;

async function orderIds(state: TradeState): Promise<{ entry: string; pair: string[] }> {
  const entry = state.orders.find((o) => o.intent.purpose === 'entry')!.intent.clientOrderId;
  const pair = state.orders.filter((o) => o.intent.purpose === 'bracket').map((o) => o.intent.clientOrderId);
  return { entry, pair };
}

async function restingWithPendingPair(handle: Parameters<TradeHarness['state']>[0]) {
  return eventually('the entry resting with its pending pair', async () => {
    const s = await h.state(handle);
    if (s.orders.length !== 3) return undefined;
    const ids = await orderIds(s);
    const entry = h.paper.findOrder(BTC, ids.entry);
    const pair = ids.pair.map((id) => h.paper.findOrder(BTC, id));
    return entry?.status === 'NEW' && pair.every((o) => o?.status === 'PENDING_NEW') ? { ids, entry, pair } : undefined;
  }, 30_000);
}

test('a BUY LIMIT with stop-loss and take-profit is one OPOCO: the fill places the OCO at once; take-profit fills, the stop expires', async () => {
  const before = { opoco: count('POST /api/v3/orderList/opoco'), oco: count('POST /api/v3/orderList/oco'), order: count('POST /api/v3/order') };
  const handle = await h.start({
    decision_id: h.id('buy'),
    order_type: 'LIMIT',
    limit_price: '59000',
    approved_size: '0.002',
    stop_loss: '57000',
    take_profit: '61000',
  });
  const { ids } = await restingWithPendingPair(handle);
  expect(count('POST /api/v3/orderList/opoco') - before.opoco).toBe(1);
  expect(count('POST /api/v3/order') - before.order).toBe(0);

  h.paper.setPrice(BTC, '58999.00');
  const entry = h.paper.findOrder(BTC, ids.entry)!;
  expect(entry.status).toBe('FILLED');
  const fillTime = Math.max(...h.paper.trades(BTC).filter((t) => t.orderId === entry.orderId).map((t) => t.time));
  // Synchronously after the fill, with no request from the workflow in between: the pair is live.
  const pair = ids.pair.map((id) => h.paper.findOrder(BTC, id)!);
  expect(pair.map((o) => o.status)).toEqual(['NEW', 'NEW']);
  expect(pair.map((o) => o.updateTime)).toEqual([fillTime, fillTime]);
  const maker = pair.find((o) => o.type === 'LIMIT_MAKER')!;
  expect(maker.workingTime).toBe(fillTime);
  // OPO: the pair sells what the entry received, net of its commission (0.002 less 0.1 %), to the lot step.
  const commission = h.paper.trades(BTC).filter((t) => t.orderId === entry.orderId).reduce((a, t) => a.plus(t.commission), dec(0));
  expect(dec(maker.origQty).toFixed()).toBe(dec('0.002').minus(commission).toDecimalPlaces(5, 1).toFixed());

  const inBracket = await eventually('the workflow in its bracket phase', async () => {
    const s = await h.state(handle);
    return s.phase === 'bracket' && s.protection?.status === 'placed' ? s : undefined;
  }, 30_000);
  const learned = inBracket.orders.find((o) => o.intent.clientOrderId === ids.entry)!.transitions.find((t) => t.to === 'filled')!;
  expect(learned.at).toBeGreaterThanOrEqual(fillTime);

  h.paper.setPrice(BTC, '61000.01');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(final.protection).toEqual({ status: 'placed' });
  const legs = final.orders.filter((o) => o.intent.purpose === 'bracket');
  expect(legs.map((o) => [o.intent.type, o.state]).sort()).toEqual([
    ['LIMIT_MAKER', 'filled'],
    ['STOP_LOSS_LIMIT', 'expired'],
  ]);
  expect(h.paper.findOrder(BTC, legs.find((o) => o.intent.type === 'STOP_LOSS_LIMIT')!.intent.clientOrderId)?.expiryReason).toBe('OCO_TRIGGER');
  // No bracket was sent after the fill: the exchange placed it.
  expect(count('POST /api/v3/orderList/oco') - before.oco).toBe(0);
  expect(h.paper.orders(BTC).filter((o) => [ids.entry, ...ids.pair].includes(o.clientOrderId)).every((o) => !['NEW', 'PENDING_NEW', 'PARTIALLY_FILLED'].includes(o.status))).toBe(true);
});

test('the price falls through entry and stop in one step: the triggered stop is followed, never cancelled or bracketed again', async () => {
  const oco = count('POST /api/v3/orderList/oco');
  const handle = await h.start({
    decision_id: h.id('gap'),
    order_type: 'LIMIT',
    limit_price: '59000',
    approved_size: '0.002',
    stop_loss: '57000',
    stop_limit_price: '56900',
    take_profit: '61000',
  });
  const { ids } = await restingWithPendingPair(handle);
  // One step from 60000 to 56800: the entry fills, the pair is placed, the stop triggers at
  // once and rests as a SELL LIMIT at 56900 (above the market); the take-profit expires.
  h.paper.setPrice(BTC, '56800.00');
  const stop = () => h.paper.findOrder(BTC, ids.pair.find((id) => h.paper.findOrder(BTC, id)!.type === 'STOP_LOSS_LIMIT')!)!;
  expect([h.paper.findOrder(BTC, ids.entry)!.status, stop().status, stop().isWorking]).toEqual(['FILLED', 'NEW', true]);
  await eventually('the workflow following the triggered stop', async () => {
    const s = await h.state(handle);
    return s.phase === 'bracket' && s.working.every((id) => ids.pair.includes(id)) ? s : undefined;
  }, 30_000);
  // The stop keeps resting: nothing cancelled it, and no second bracket was sent.
  await new Promise((r) => setTimeout(r, 1500));
  expect(stop().status).toBe('NEW');
  expect(count('POST /api/v3/orderList/oco') - oco).toBe(0);
  h.paper.setPrice(BTC, '56950.00');
  const final = await h.result(handle);
  expect(final.protection).toEqual({ status: 'placed' });
  expect(final.orders.filter((o) => o.intent.purpose === 'bracket').map((o) => [o.intent.type, o.state]).sort()).toEqual([
    ['LIMIT_MAKER', 'expired'],
    ['STOP_LOSS_LIMIT', 'filled'],
  ]);
  expect(final.orders).toHaveLength(3);
});

test('a SELL LIMIT with stop-loss and take-profit is one OTOCO buying back what it sold; the stop side fills', async () => {
  const before = count('POST /api/v3/orderList/otoco');
  const handle = await h.start({
    decision_id: h.id('sell'),
    original_signal: 0,
    order_type: 'LIMIT',
    limit_price: '61000',
    approved_size: '0.002',
    stop_loss: '63000',
    stop_limit_price: '63100',
    take_profit: '59000',
  });
  const { ids } = await restingWithPendingPair(handle);
  expect(count('POST /api/v3/orderList/otoco') - before).toBe(1);
  expect(ids.pair.map((id) => h.paper.findOrder(BTC, id)!.origQty)).toEqual(['0.00200000', '0.00200000']);
  h.paper.setPrice(BTC, '61000.01');
  await eventually('the workflow in its bracket phase', async () => ((await h.state(handle)).phase === 'bracket' ? true : undefined), 30_000);
  // Through the stop: the stop-limit BUY triggers and fills; the take-profit leg expires.
  h.paper.setPrice(BTC, '63000.00');
  h.paper.setPrice(BTC, '63050.00');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  const legs = final.orders.filter((o) => o.intent.purpose === 'bracket');
  expect(legs.map((o) => [o.intent.type, o.state]).sort()).toEqual([
    ['LIMIT_MAKER', 'expired'],
    ['STOP_LOSS_LIMIT', 'filled'],
  ]);
});

test('an entry that times out partly filled takes its pending pair with it; the filled part is protected by a bracket placed after', async () => {
  const handle = await h.start(
    { decision_id: h.id('partial'), order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', stop_loss: '57000', take_profit: '61000', timeout_ms: 4000 },
  );
  const { ids } = await restingWithPendingPair(handle);
  const res = await fetch(`${h.paper.url}/admin/fill`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ symbol: BTC, origClientOrderId: ids.entry, quantity: '0.001' }),
  });
  expect(res.status).toBe(200);
  const inBracket = await eventually('the after-fill bracket', async () => {
    const s = await h.state(handle);
    return s.phase === 'bracket' && s.protection?.status === 'placed' ? s : undefined;
  }, 60_000);
  // The list's pair went with the entry; a second bracket (b2) protects the 0.001 that filled.
  expect(ids.pair.map((id) => h.paper.findOrder(BTC, id)!.status)).toEqual(['CANCELED', 'CANCELED']);
  const second = inBracket.orders.filter((o) => o.intent.purpose === 'bracket' && !ids.pair.includes(o.intent.clientOrderId));
  expect(second).toHaveLength(2);
  const live = second.map((o) => h.paper.findOrder(BTC, o.intent.clientOrderId)!);
  expect(live.map((o) => o.status)).toEqual(['NEW', 'NEW']);
  // What the entry bought less its commission, to the lot step.
  expect(dec(live[0]!.origQty).lte('0.001')).toBe(true);
  expect(dec(live[0]!.origQty).gt('0.00098')).toBe(true);
  await handle.executeUpdate('cancel', { args: [{ reason: 'test done' }] });
  const final = await h.result(handle).catch(() => h.state(handle));
  expect(final.orders.every((o) => !['NEW', 'PENDING_NEW'].includes(h.paper.findOrder(BTC, o.intent.clientOrderId)?.status ?? 'none'))).toBe(true);
});

test('amending a protected entry is refused with the reason; the list stays as it was', async () => {
  const handle = await h.start({ decision_id: h.id('amend'), order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', stop_loss: '57000', take_profit: '61000' });
  const { ids } = await restingWithPendingPair(handle);
  const refusal = await handle.executeUpdate('amend', { args: [{ quantity: '0.0015' }] }).then(
    () => 'accepted',
    (err: unknown) => String((err as { cause?: { message?: string } }).cause?.message ?? err),
  );
  expect(refusal).toMatch(/order list .*cannot be amended/);
  expect(h.paper.findOrder(BTC, ids.entry)?.origQty).toBe('0.00200000');
  await handle.executeUpdate('cancel', { args: [{ reason: 'test done' }] });
  await h.result(handle).catch(() => undefined);
  expect([ids.entry, ...ids.pair].map((id) => h.paper.findOrder(BTC, id)?.status)).toEqual(['CANCELED', 'CANCELED', 'CANCELED']);
});
