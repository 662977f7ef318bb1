/**
 * workflows/order-plans.ts, table by table: what each plan asks prepareOrder for and the exact
 * intents it returns, per order type and phase. Pure: `prepare` is a recording stand-in.
 * Entries sent with their protection as one list (OTOCO/OPOCO) are in protected-entry-plan.test.ts.
 */
import type { PrepareOrderRequest } from '../../activities/exchange-activities';
import type { RiskDecision } from '../../src/shared/decision';
import type { OrderIntent, TradeState } from '../../src/shared/trade';
import type { AmendRequest } from '../../workflows/definitions';
import { bracketPlan, closePlan, entryPlan, replacementAfterCancel, replacementIntent, restAfter } from '../../workflows/order-plans';
import { input, order, recordingPrepare, state, type OrderSpec } from './fixtures/trade-state';

const intent = (o: Partial<OrderIntent> & Pick<OrderIntent, 'clientOrderId' | 'purpose' | 'side' | 'type' | 'quantity'>): OrderIntent => ({
  symbol: 'BTCUSDT',
  price: undefined,
  stopPrice: undefined,
  timeInForce: undefined,
  ...o,
});
const req = (r: Partial<PrepareOrderRequest> & Pick<PrepareOrderRequest, 'side' | 'type' | 'quantity'>): PrepareOrderRequest => ({
  symbol: 'BTCUSDT',
  price: undefined,
  stopPrice: undefined,
  ...r,
});
/** An order a plan makes: what it asks prepareOrder for (the intent's side, type, quantity, price and stop) and the intent it returns. */
const planned = (o: Parameters<typeof intent>[0]): [PrepareOrderRequest, OrderIntent] => {
  const i = intent(o);
  return [req({ side: i.side, type: i.type, quantity: i.quantity, price: i.price, stopPrice: i.stopPrice }), i];
};

describe('entryPlan: one order per order type', () => {
  test.each<[string, Partial<RiskDecision>, 'BUY' | 'SELL', PrepareOrderRequest, OrderIntent]>([
    [
      'MARKET BUY: no price, no stop, no time in force',
      { order_type: 'MARKET' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'MARKET', quantity: '0.002' }),
    ],
    [
      'MARKET SELL ignores a limit_price and a time_in_force the decision carries',
      { order_type: 'MARKET', limit_price: '59000', time_in_force: 'IOC' },
      'SELL',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'SELL', type: 'MARKET', quantity: '0.002' }),
    ],
    [
      'LIMIT without time_in_force rests GTC',
      { order_type: 'LIMIT', limit_price: '59000' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '59000', timeInForce: 'GTC' }),
    ],
    [
      'LIMIT IOC keeps its time in force',
      { order_type: 'LIMIT', limit_price: '59000', time_in_force: 'IOC' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '59000', timeInForce: 'IOC' }),
    ],
    [
      'LIMIT FOK keeps its time in force',
      { order_type: 'LIMIT', limit_price: '61000', time_in_force: 'FOK' },
      'SELL',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'SELL', type: 'LIMIT', quantity: '0.002', price: '61000', timeInForce: 'FOK' }),
    ],
    [
      'LIMIT does not send a stop_price the decision carries',
      { order_type: 'LIMIT', limit_price: '59000', stop_price: '58000' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '59000', timeInForce: 'GTC' }),
    ],
    [
      'STOP_LOSS_LIMIT: limit price and stop price, GTC',
      { order_type: 'STOP_LOSS_LIMIT', limit_price: '60600', stop_price: '60500' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'STOP_LOSS_LIMIT', quantity: '0.002', price: '60600', stopPrice: '60500', timeInForce: 'GTC' }),
    ],
    [
      'TAKE_PROFIT_LIMIT: limit price and stop price, its own time in force',
      { order_type: 'TAKE_PROFIT_LIMIT', limit_price: '59600', stop_price: '59500', time_in_force: 'IOC' },
      'BUY',
      ...planned({ clientOrderId: 'te-d-1-e', purpose: 'entry', side: 'BUY', type: 'TAKE_PROFIT_LIMIT', quantity: '0.002', price: '59600', stopPrice: '59500', timeInForce: 'IOC' }),
    ],
  ])('%s', async (_name, d, side, asked, expected) => {
    const s = state({ side });
    const { prepare, calls } = recordingPrepare();
    const plan = await entryPlan(input({ approved_size: '0.002', ...d }), s, side, prepare);
    expect(calls).toEqual([asked]);
    expect(plan).toEqual({ kind: 'single', orders: [expected] });
    expect(s.assets).toEqual({ base: 'BTC', quote: 'USDT' });
  });

  test('the target becomes what the exchange rules left of the approved size (rounded to the lot step)', async () => {
    const s = state({ targetQty: '0.0025' });
    const { prepare } = recordingPrepare({ quantities: { LIMIT: '0.002' } });
    const plan = await entryPlan(input({ order_type: 'LIMIT', limit_price: '59000', approved_size: '0.0025' }), s, 'BUY', prepare);
    expect(s.targetQty).toBe('0.002');
    expect(plan.orders.map((o) => o.quantity)).toEqual(['0.002']);
  });

  test('a refusal from prepareOrder propagates and leaves the state as it was', async () => {
    const s = state({ targetQty: '0.0025' });
    const refuse = async (): Promise<never> => {
      throw new Error('LOT_SIZE: quantity below minQty');
    };
    await expect(entryPlan(input({ order_type: 'MARKET', approved_size: '0.0025' }), s, 'BUY', refuse)).rejects.toThrow('LOT_SIZE: quantity below minQty');
    expect(s.targetQty).toBe('0.0025');
    expect(s.assets).toBeUndefined();
  });
});

describe('entryPlan: an OCO entry is one list of two legs', () => {
  const oco = { order_type: 'OCO' as const, take_profit_price: '59000', stop_price: '61000', stop_limit_price: '61100' };
  const maker = (side: 'BUY' | 'SELL', price: string) => req({ side, type: 'LIMIT_MAKER', quantity: '0.002', price });
  const stop = (side: 'BUY' | 'SELL', price: string, stopPrice: string) => req({ side, type: 'STOP_LOSS_LIMIT', quantity: '0.002', price, stopPrice });

  test.each<[string, 'BUY' | 'SELL', Partial<RiskDecision>, PrepareOrderRequest[], [OrderIntent['type'], OrderIntent['type']]]>([
    // A BUY OCO stops in above the market and takes profit (buys cheaper) below it.
    ['BUY: the stop leg above, the limit maker below', 'BUY', oco, [maker('BUY', '59000'), stop('BUY', '61100', '61000')], ['STOP_LOSS_LIMIT', 'LIMIT_MAKER']],
    // A SELL OCO takes profit above the market and stops out below it.
    [
      'SELL: the limit maker above, the stop leg below',
      'SELL',
      { ...oco, take_profit_price: '61000', stop_price: '59000', stop_limit_price: '58900' },
      [maker('SELL', '61000'), stop('SELL', '58900', '59000')],
      ['LIMIT_MAKER', 'STOP_LOSS_LIMIT'],
    ],
  ])('%s', async (_name, side, d, asked, [aboveType, belowType]) => {
    const s = state({ side });
    const { prepare, calls } = recordingPrepare();
    const plan = await entryPlan(input(d), s, side, prepare);
    expect(calls).toEqual(asked);
    if (plan.kind !== 'list') throw new Error(`expected a list plan, got ${plan.kind}`);
    const [makerReq, stopReq] = asked as [PrepareOrderRequest, PrepareOrderRequest];
    const legOf = (type: OrderIntent['type'], cid: string) =>
      type === 'LIMIT_MAKER'
        ? intent({ clientOrderId: cid, purpose: 'entry', side, type, quantity: '0.002', price: makerReq.price, listClientOrderId: 'te-d-1-el' })
        : intent({ clientOrderId: cid, purpose: 'entry', side, type, quantity: '0.002', price: stopReq.price, stopPrice: stopReq.stopPrice, timeInForce: 'GTC', listClientOrderId: 'te-d-1-el' });
    const above = legOf(aboveType, 'te-d-1-ea');
    const below = legOf(belowType, 'te-d-1-eb');
    expect(plan).toEqual({
      kind: 'list',
      orders: [above, below],
      list: { listClientOrderId: 'te-d-1-el', symbol: 'BTCUSDT', side, quantity: '0.002', above, below },
    });
    expect(s.targetQty).toBe('0.002');
    expect(s.assets).toEqual({ base: 'BTC', quote: 'USDT' });
  });

  test.each([
    ['the stop leg rounds lower', { LIMIT_MAKER: '0.0025', STOP_LOSS_LIMIT: '0.002' }, '0.002'],
    ['the limit maker rounds lower', { LIMIT_MAKER: '0.002', STOP_LOSS_LIMIT: '0.0025' }, '0.002'],
    ['both round alike', { LIMIT_MAKER: '0.0021', STOP_LOSS_LIMIT: '0.0021' }, '0.0021'],
  ])('both legs and the target take the smaller prepared quantity: %s', async (_name, quantities, expected) => {
    const s = state({ targetQty: '0.0025' });
    const { prepare } = recordingPrepare({ quantities });
    const plan = await entryPlan(input({ ...oco, approved_size: '0.0025' }), s, 'BUY', prepare);
    if (plan.kind !== 'list') throw new Error(`expected a list plan, got ${plan.kind}`);
    expect([plan.list.quantity, ...plan.orders.map((o) => o.quantity)]).toEqual([expected, expected, expected]);
    expect(s.targetQty).toBe(expected);
  });
});

describe('bracketPlan: the protective exit after the entry filled', () => {
  test.each<[string, 'BUY' | 'SELL', Partial<RiskDecision>, number, PrepareOrderRequest, OrderIntent]>([
    [
      'take-profit only after a BUY: a SELL LIMIT at the take-profit',
      'BUY',
      { take_profit: '61000' },
      0,
      ...planned({ clientOrderId: 'te-d-1-b1', purpose: 'bracket', side: 'SELL', type: 'LIMIT', quantity: '0.001998', price: '61000', timeInForce: 'GTC' }),
    ],
    [
      'stop-loss only after a BUY: a SELL STOP_LOSS_LIMIT priced at the stop itself',
      'BUY',
      { stop_loss: '57000' },
      0,
      ...planned({ clientOrderId: 'te-d-1-b1', purpose: 'bracket', side: 'SELL', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '57000', stopPrice: '57000', timeInForce: 'GTC' }),
    ],
    [
      'stop-loss only with a stop_limit_price: the limit is that price',
      'BUY',
      { stop_loss: '57000', stop_limit_price: '56900' },
      0,
      ...planned({ clientOrderId: 'te-d-1-b1', purpose: 'bracket', side: 'SELL', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '56900', stopPrice: '57000', timeInForce: 'GTC' }),
    ],
    [
      'take-profit only after a SELL: a BUY LIMIT, the third bracket of the trade',
      'SELL',
      { take_profit: '59000' },
      2,
      ...planned({ clientOrderId: 'te-d-1-b3', purpose: 'bracket', side: 'BUY', type: 'LIMIT', quantity: '0.001998', price: '59000', timeInForce: 'GTC' }),
    ],
  ])('%s', async (_name, entrySide, d, before, asked, expected) => {
    const s = state({ side: entrySide, phase: 'bracket', counters: { replacement: 0, close: 0, bracket: before } });
    const { prepare, calls } = recordingPrepare();
    const plan = await bracketPlan(input(d), s, entrySide, '0.001998', prepare);
    expect(calls).toEqual([asked]);
    expect(plan).toEqual({ kind: 'single', orders: [expected] });
    expect(s.counters.bracket).toBe(before + 1);
    expect(s.bracketQty).toBe('0.001998');
  });

  test('a single exit protects what the lot step leaves of what is held', async () => {
    const s = state({ phase: 'bracket' });
    const { prepare } = recordingPrepare({ quantities: { LIMIT: '0.00199' } });
    const plan = await bracketPlan(input({ take_profit: '61000' }), s, 'BUY', '0.001998', prepare);
    expect(plan.orders.map((o) => o.quantity)).toEqual(['0.00199']);
    expect(s.bracketQty).toBe('0.00199');
  });

  test.each<[string, 'BUY' | 'SELL', Partial<RiskDecision>, PrepareOrderRequest[], [OrderIntent, OrderIntent]]>([
    [
      'both levels after a BUY: a SELL OCO, take-profit above, stop (limit = stop) below',
      'BUY',
      { take_profit: '61000', stop_loss: '57000' },
      [req({ side: 'SELL', type: 'LIMIT_MAKER', quantity: '0.001998', price: '61000' }), req({ side: 'SELL', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '57000', stopPrice: '57000' })],
      [
        intent({ clientOrderId: 'te-d-1-b1a', purpose: 'bracket', side: 'SELL', type: 'LIMIT_MAKER', quantity: '0.001998', price: '61000', listClientOrderId: 'te-d-1-b1l' }),
        intent({ clientOrderId: 'te-d-1-b1b', purpose: 'bracket', side: 'SELL', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '57000', stopPrice: '57000', timeInForce: 'GTC', listClientOrderId: 'te-d-1-b1l' }),
      ],
    ],
    [
      'both levels after a SELL with a stop_limit_price: a BUY OCO, stop above, take-profit below',
      'SELL',
      { take_profit: '59000', stop_loss: '63000', stop_limit_price: '63100' },
      [req({ side: 'BUY', type: 'LIMIT_MAKER', quantity: '0.001998', price: '59000' }), req({ side: 'BUY', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '63100', stopPrice: '63000' })],
      [
        intent({ clientOrderId: 'te-d-1-b1a', purpose: 'bracket', side: 'BUY', type: 'STOP_LOSS_LIMIT', quantity: '0.001998', price: '63100', stopPrice: '63000', timeInForce: 'GTC', listClientOrderId: 'te-d-1-b1l' }),
        intent({ clientOrderId: 'te-d-1-b1b', purpose: 'bracket', side: 'BUY', type: 'LIMIT_MAKER', quantity: '0.001998', price: '59000', listClientOrderId: 'te-d-1-b1l' }),
      ],
    ],
  ])('%s', async (_name, entrySide, d, asked, [above, below]) => {
    const s = state({ side: entrySide, phase: 'bracket', targetQty: '0.002' });
    const { prepare, calls } = recordingPrepare();
    const plan = await bracketPlan(input(d), s, entrySide, '0.001998', prepare);
    expect(calls).toEqual(asked);
    expect(plan).toEqual({
      kind: 'list',
      orders: [above, below],
      list: { listClientOrderId: 'te-d-1-b1l', symbol: 'BTCUSDT', side: above.side, quantity: '0.001998', above, below },
    });
    expect(s.counters.bracket).toBe(1);
    expect(s.bracketQty).toBe('0.001998');
    // A bracket never changes what the entry was to execute.
    expect(s.targetQty).toBe('0.002');
  });

  test('an OCO bracket whose legs round differently sends both at the smaller quantity', async () => {
    const s = state({ phase: 'bracket' });
    const { prepare } = recordingPrepare({ quantities: { LIMIT_MAKER: '0.00199', STOP_LOSS_LIMIT: '0.0019' } });
    const plan = await bracketPlan(input({ take_profit: '61000', stop_loss: '57000' }), s, 'BUY', '0.001998', prepare);
    if (plan.kind !== 'list') throw new Error(`expected a list plan, got ${plan.kind}`);
    expect([plan.list.quantity, ...plan.orders.map((o) => o.quantity)]).toEqual(['0.0019', '0.0019', '0.0019']);
  });
});

describe('closePlan: what is left, at market', () => {
  const filled = (spec: OrderSpec, executedQty: string) => order({ ...spec, exchange: { executedQty } });

  test.each<[string, 'entry' | 'bracket', Partial<TradeState>, 'BUY' | 'SELL', string | undefined]>([
    ['entry phase, nothing executed: the whole target', 'entry', { targetQty: '0.002' }, 'BUY', '0.002'],
    ['entry phase: an order never acknowledged counts as nothing executed', 'entry', { orders: [order({})] }, 'BUY', '0.002'],
    [
      'entry phase: less what the entry and its replacement executed',
      'entry',
      { orders: [filled({}, '0.0005'), filled({ cid: 'te-d-1-r1', purpose: 'replacement' }, '0.0003')] },
      'BUY',
      '0.0012',
    ],
    [
      'entry phase: an earlier close-now counts, a bracket does not',
      'entry',
      { orders: [filled({}, '0.0005'), filled({ cid: 'te-d-1-x1', purpose: 'close', type: 'MARKET' }, '0.0005'), filled({ cid: 'te-d-1-b1', purpose: 'bracket', side: 'SELL' }, '0.0009')] },
      'BUY',
      '0.001',
    ],
    ['entry phase, all executed: nothing to close', 'entry', { orders: [filled({}, '0.002')] }, 'BUY', undefined],
    ['entry phase, more than the target executed: nothing to close', 'entry', { orders: [filled({}, '0.0021')] }, 'BUY', undefined],
    ['bracket phase after a BUY: SELL what the bracket protects', 'bracket', { bracketQty: '0.001998', orders: [filled({}, '0.002')] }, 'SELL', '0.001998'],
    [
      'bracket phase: less what the exit side already executed (a bracket leg and an earlier close)',
      'bracket',
      {
        bracketQty: '0.001998',
        orders: [
          filled({}, '0.002'),
          filled({ cid: 'te-d-1-b1a', purpose: 'bracket', side: 'SELL' }, '0.0005'),
          filled({ cid: 'te-d-1-x1', purpose: 'close', side: 'SELL', type: 'MARKET' }, '0.0004'),
        ],
      },
      'SELL',
      '0.001098',
    ],
    ['bracket phase after a SELL: BUY back', 'bracket', { side: 'SELL', bracketQty: '0.002' }, 'BUY', '0.002'],
    ['bracket phase, the exit executed it all: nothing to close', 'bracket', { bracketQty: '0.001', orders: [filled({ cid: 'te-d-1-b1', purpose: 'bracket', side: 'SELL' }, '0.001')] }, 'SELL', undefined],
    ['bracket phase with no bracket quantity: nothing to close', 'bracket', {}, 'SELL', undefined],
  ])('%s', async (_name, phase, s0, side, left) => {
    const entrySide = s0.side ?? 'BUY';
    const s = state({ phase, ...s0 });
    const { prepare, calls } = recordingPrepare();
    const plan = await closePlan(input(), s, entrySide, phase, 2, prepare);
    if (left === undefined) {
      expect(plan).toBeUndefined();
      expect(calls).toEqual([]);
      return;
    }
    expect(calls).toEqual([req({ side, type: 'MARKET', quantity: left })]);
    expect(plan).toEqual({ kind: 'single', orders: [intent({ clientOrderId: 'te-d-1-x2', purpose: 'close', side, type: 'MARKET', quantity: left })] });
  });

  test('the close sends what the lot step leaves of the remainder', async () => {
    const { prepare } = recordingPrepare({ quantities: { MARKET: '0.0012' } });
    const plan = await closePlan(input(), state({ targetQty: '0.00125' }), 'BUY', 'entry', 1, prepare);
    expect(plan?.orders.map((o) => [o.clientOrderId, o.quantity])).toEqual([['te-d-1-x1', '0.0012']]);
  });
});

describe('replacementIntent: an amended order replaced in one step', () => {
  const old = (spec: OrderSpec = {}) =>
    order({ type: 'LIMIT', price: '59000', quantity: '0.002', timeInForce: 'GTC', ...spec });

  test.each<[string, OrderSpec, AmendRequest, PrepareOrderRequest, OrderIntent]>([
    [
      'new price: the rest of the original quantity at it',
      { exchange: { executedQty: '0.0005' } },
      { price: '59500' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0015', price: '59500', timeInForce: 'GTC' }),
    ],
    [
      'new quantity: the new total less what filled, at the old price',
      { exchange: { executedQty: '0.0005' } },
      { quantity: '0.0018' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0013', price: '59000', timeInForce: 'GTC' }),
    ],
    [
      'both: the new total less what filled, at the new price',
      { exchange: { executedQty: '0.001' } },
      { price: '58000', quantity: '0.0015' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0005', price: '58000', timeInForce: 'GTC' }),
    ],
    [
      'the exchange\'s origQty is the old total, not the intent\'s',
      { quantity: '0.0025', exchange: { origQty: '0.002', executedQty: '0' } },
      { price: '59500' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '59500', timeInForce: 'GTC' }),
    ],
    [
      'an order never acknowledged: the intent\'s quantity, nothing filled',
      { quantity: '0.0025' },
      { price: '59500' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0025', price: '59500', timeInForce: 'GTC' }),
    ],
    [
      'a stop order keeps its stop price, side and time in force',
      { side: 'SELL', type: 'STOP_LOSS_LIMIT', price: '57000', stopPrice: '57100', timeInForce: 'IOC' },
      { price: '56900' },
      ...planned({ clientOrderId: 'te-d-1-r3', purpose: 'replacement', side: 'SELL', type: 'STOP_LOSS_LIMIT', quantity: '0.002', price: '56900', stopPrice: '57100', timeInForce: 'IOC' }),
    ],
  ])('%s', async (_name, spec, amend, asked, expected) => {
    const { prepare, calls } = recordingPrepare();
    const got = await replacementIntent(input(), state(), old(spec), amend, 3, prepare);
    expect(calls).toEqual([asked]);
    expect(got).toEqual(expected);
  });
});

describe('restAfter: what a replacement may still execute', () => {
  const ex = (spec: OrderSpec, executedQty: string) => order({ ...spec, exchange: { executedQty } });
  test.each<[string, Partial<TradeState>['orders'], string, string]>([
    ['no orders: the new total, in wire form', [], '0.00200', '0.002'],
    ['an order never acknowledged executed nothing', [order({})], '0.002', '0.002'],
    ['less the entry and a replacement', [ex({}, '0.0005'), ex({ cid: 'te-d-1-r1', purpose: 'replacement' }, '0.0004')], '0.002', '0.0011'],
    ['less a close-now, never a bracket', [ex({ cid: 'te-d-1-x1', purpose: 'close' }, '0.0001'), ex({ cid: 'te-d-1-b1', purpose: 'bracket', side: 'SELL' }, '0.001')], '0.002', '0.0019'],
    ['a fill that raced the cancel can leave nothing (or less than nothing) to execute', [ex({}, '0.0015')], '0.001', '-0.0005'],
  ])('%s', (_name, orders, total, rest) => {
    expect(restAfter(state({ orders: orders ?? [] }), total)).toBe(rest);
  });
});

describe('replacementAfterCancel: the replacement placed once the old order is final', () => {
  test.each<[string, OrderSpec, string | undefined, string, PrepareOrderRequest, OrderIntent]>([
    [
      'a new price and the rest',
      { price: '59000', timeInForce: 'GTC' },
      '59500',
      '0.0011',
      ...planned({ clientOrderId: 'te-d-1-r2', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0011', price: '59500', timeInForce: 'GTC' }),
    ],
    [
      'no price given is sent as none (the caller passes the old one when it keeps it)',
      { price: '59000', timeInForce: 'GTC' },
      undefined,
      '0.0011',
      ...planned({ clientOrderId: 'te-d-1-r2', purpose: 'replacement', side: 'BUY', type: 'LIMIT', quantity: '0.0011', timeInForce: 'GTC' }),
    ],
    [
      'a TAKE_PROFIT_LIMIT SELL keeps type, side, stop price and time in force',
      { side: 'SELL', type: 'TAKE_PROFIT_LIMIT', price: '61000', stopPrice: '60900', timeInForce: 'FOK' },
      '61500',
      '0.002',
      ...planned({ clientOrderId: 'te-d-1-r2', purpose: 'replacement', side: 'SELL', type: 'TAKE_PROFIT_LIMIT', quantity: '0.002', price: '61500', stopPrice: '60900', timeInForce: 'FOK' }),
    ],
  ])('%s', async (_name, spec, price, quantity, asked, expected) => {
    const { prepare, calls } = recordingPrepare();
    const plan = await replacementAfterCancel(input(), state(), order(spec), price, quantity, 2, prepare);
    expect(calls).toEqual([asked]);
    expect(plan).toEqual({ kind: 'single', orders: [expected] });
  });
});
