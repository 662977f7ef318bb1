/**
 * workflows/order-plans.ts entryPlan: when an entry goes out with its protection as one order
 * list (OPOCO for a BUY, OTOCO for a SELL) and when it keeps the bracket placed after the fill.
 * Pure: `prepare` is a stand-in that returns the request as the exchange's rules would leave it.
 */
import type { PrepareOrderRequest, PreparedOrder } from '../../activities/exchange-activities';
import { ApplicationFailure } from '@temporalio/common';
import { entryPlan } from '../../workflows/order-plans';
import type { RiskDecision } from '../../src/shared/decision';
import { input as tradeInput, recordingPrepare, state as tradeState } from './fixtures/trade-state';

type Lists = NonNullable<PreparedOrder['lists']>;

function prepareWith(lists: Lists | undefined) {
  return recordingPrepare(lists ? { lists } : {}).prepare;
}

function setup(decision: Partial<RiskDecision>) {
  const input = tradeInput({ order_type: 'LIMIT', limit_price: '59000', stop_loss: '57000', take_profit: '61000', ...decision });
  const d = input.decision;
  const state = tradeState({ side: d.original_signal === 0 ? 'SELL' : 'BUY', status: 'validating', targetQty: d.approved_size, approvedQty: d.approved_size, startedAt: 0 });
  return { input, state, side: state.side };
}

const ALL: Lists = { oco: true, oto: true, opo: true };

test.each([
  ['a BUY LIMIT with both levels, OPO allowed', {}, ALL, true, 'protected', { pays: true }],
  ['a SELL LIMIT with both levels', { original_signal: 0, limit_price: '61000', stop_loss: '63000', take_profit: '59000' }, { ...ALL, opo: false }, true, 'protected', { pays: false, pendingQuantity: '0.002' }],
  ['a BUY where the symbol has no OPO (OTOCO would have to guess the fee)', {}, { ...ALL, opo: false }, true, 'single', undefined],
  ['a symbol without otoAllowed', {}, { ...ALL, oto: false }, true, 'single', undefined],
  ['an exchangeInfo from before the flags were read', {}, undefined, true, 'single', undefined],
  ['only a take-profit', { stop_loss: undefined }, ALL, true, 'single', undefined],
  ['an IOC entry (it cannot rest for its pair)', { time_in_force: 'IOC' }, ALL, true, 'single', undefined],
  ['a MARKET entry (OTO working orders are LIMIT or LIMIT_MAKER)', { order_type: 'MARKET', limit_price: undefined }, ALL, true, 'single', undefined],
  ['a history from before patch protected-entry', {}, ALL, false, 'single', undefined],
] as const)('%s', async (_name, decision, lists, patched, kind, list) => {
  const { input, state, side } = setup(decision as Partial<RiskDecision>);
  const plan = await entryPlan(input, state, side, prepareWith(lists), { protectedEntry: patched });
  expect(plan.kind).toBe(kind);
  if (plan.kind !== 'protected') {
    expect(plan.orders.every((o) => o.purpose === 'entry')).toBe(true);
    return;
  }
  expect(plan.list).toMatchObject(list!);
  if (list!.pays) expect(plan.list.pendingQuantity).toBeUndefined();
  const [working, above, below] = plan.orders;
  // One list id on all three; the pair are the trade's first bracket (b1a, b1b), the entry is -e.
  expect(new Set(plan.orders.map((o) => o.listClientOrderId))).toEqual(new Set([plan.list.listClientOrderId]));
  expect([working.clientOrderId, above.clientOrderId, below.clientOrderId, plan.list.listClientOrderId]).toEqual(['te-d-1-e', 'te-d-1-b1a', 'te-d-1-b1b', 'te-d-1-b1l']);
  expect([working.purpose, above.purpose, below.purpose]).toEqual(['entry', 'bracket', 'bracket']);
  expect(state.counters.bracket).toBe(1);
  // The pair is on the other side; take-profit above a BUY entry's price, the stop below it.
  const exit = side === 'BUY' ? 'SELL' : 'BUY';
  expect([above.side, below.side]).toEqual([exit, exit]);
  const [tp, sl] = side === 'BUY' ? [above, below] : [below, above];
  expect([tp.type, tp.price]).toEqual(['LIMIT_MAKER', side === 'BUY' ? '61000' : '59000']);
  expect([sl.type, sl.stopPrice]).toEqual(['STOP_LOSS_LIMIT', side === 'BUY' ? '57000' : '63000']);
});

test('a pair the exchange rules refuse leaves the entry to go alone (its bracket after the fill meets the same refusal and says so)', async () => {
  const { input, state, side } = setup({ stop_loss: '10000' });
  const strict = async (req: PrepareOrderRequest): Promise<PreparedOrder> => {
    if (req.stopPrice === '10000') throw ApplicationFailure.nonRetryable('PERCENT_PRICE_BY_SIDE: price below 0.2 x the average', 'OrderRejected');
    return prepareWith(ALL)(req);
  };
  const plan = await entryPlan(input, state, side, strict, { protectedEntry: true });
  expect(plan.kind).toBe('single');
  expect(plan.orders.map((o) => [o.clientOrderId, o.listClientOrderId])).toEqual([['te-d-1-e', undefined]]);
  expect(state.counters.bracket).toBe(0);
  // Anything else (a read that failed) is not a refusal: it propagates.
  const broken = async (req: PrepareOrderRequest): Promise<PreparedOrder> => {
    if (req.stopPrice !== undefined) throw ApplicationFailure.retryable('exchange unreachable', 'ExchangeError');
    return prepareWith(ALL)(req);
  };
  await expect(entryPlan(setup({}).input, setup({}).state, side, broken, { protectedEntry: true })).rejects.toThrow('exchange unreachable');
});
