/**
 * workflows/report.ts: the trade's final status from what its entry orders executed, and every
 * field of the execution report published on `trade_executions`, with hand-computed values.
 */
import type { RiskDecision } from '../../src/shared/decision';
import type { ExecutionReport, TradeState, TradeStatus } from '../../src/shared/trade';
import { buildReport, finalTradeStatus } from '../../workflows/report';
import { fill, input, order, state, type OrderSpec } from './fixtures/trade-state';

const ex = (spec: OrderSpec, executedQty: string, st: OrderSpec['state'] = 'filled') => order({ ...spec, state: st, exchange: { executedQty, ...spec.exchange } });

describe('finalTradeStatus', () => {
  test.each<[string, Partial<TradeState>, 'cancelled' | undefined, TradeStatus]>([
    ['a rejected trade stays rejected, whatever executed', { status: 'rejected', orders: [ex({}, '0.002')] }, undefined, 'rejected'],
    ['a rejected trade stays rejected under a cancel', { status: 'rejected' }, 'cancelled', 'rejected'],
    ['no entry order at all: failed', {}, undefined, 'failed'],
    ['no entry order, an operator cancel: cancelled', {}, 'cancelled', 'cancelled'],
    ['only bracket orders count as no entry order', { orders: [ex({ purpose: 'bracket', cid: 'te-d-1-b1' }, '0.002')] }, undefined, 'failed'],
    ['the target executed: filled', { orders: [ex({}, '0.002')] }, undefined, 'filled'],
    ['the target executed, whatever the override: filled', { orders: [ex({}, '0.002')] }, 'cancelled', 'filled'],
    ['more than the target executed: filled', { orders: [ex({}, '0.0021')] }, undefined, 'filled'],
    [
      'the target executed over the entry and its replacement: filled',
      { orders: [ex({}, '0.0005', 'cancelled'), ex({ cid: 'te-d-1-r1', purpose: 'replacement' }, '0.0015')] },
      undefined,
      'filled',
    ],
    ['the entry and a close-now together reach the target: filled', { orders: [ex({}, '0.0012', 'cancelled'), ex({ cid: 'te-d-1-x1', purpose: 'close', type: 'MARKET' }, '0.0008')] }, undefined, 'filled'],
    ['part of the target executed: partially filled', { orders: [ex({}, '0.0012', 'cancelled')] }, undefined, 'partially_filled'],
    ['part executed, an operator cancel: still partially filled', { orders: [ex({}, '0.0012', 'cancelled')] }, 'cancelled', 'partially_filled'],
    ['a bracket fill does not count towards the entry', { orders: [ex({}, '0', 'expired'), ex({ purpose: 'bracket', cid: 'te-d-1-b1' }, '0.002')] }, undefined, 'expired'],
    ['nothing executed, an operator cancel beats an expiry', { orders: [ex({}, '0', 'expired')] }, 'cancelled', 'cancelled'],
    ['nothing executed, cancelled on the exchange', { orders: [ex({}, '0', 'cancelled')] }, undefined, 'cancelled'],
    ['nothing executed, cancelled beats expired', { orders: [ex({}, '0', 'expired'), ex({ cid: 'te-d-1-r1', purpose: 'replacement' }, '0', 'cancelled')] }, undefined, 'cancelled'],
    ['nothing executed, expired', { orders: [ex({}, '0', 'expired')] }, undefined, 'expired'],
    ['nothing executed, expired beats rejected', { orders: [ex({}, '0', 'rejected'), ex({ cid: 'te-d-1-r1', purpose: 'replacement' }, '0', 'expired')] }, undefined, 'expired'],
    ['nothing executed, rejected by the exchange', { orders: [order({ state: 'rejected' })] }, undefined, 'rejected'],
    ['nothing executed, the order failed', { orders: [order({ state: 'failed' })] }, undefined, 'failed'],
    ['nothing executed, still open (no final state): failed', { orders: [ex({}, '0', 'submitted')] }, undefined, 'failed'],
  ])('%s', (_name, s, override, expected) => {
    expect(finalTradeStatus(state({ status: 'settling', ...s }), override)).toBe(expected);
  });
});

describe('buildReport', () => {
  const START = 1_000_000;
  const twoFills = [
    fill({ tradeId: 101, qty: '0.0012', price: '60000', quoteQty: '72', commission: '0.0000012', commissionAsset: 'BTC' }),
    fill({ tradeId: 102, qty: '0.0008', price: '60010', quoteQty: '48.008', commission: '0.0000008', commissionAsset: 'BTC' }),
  ];
  const filledMarket = () =>
    state({
      status: 'filled',
      phase: 'done',
      finishedAt: START + 1234,
      orders: [order({ type: 'MARKET', state: 'filled', exchange: { orderId: 7001, executedQty: '0.002', status: 'FILLED' }, fills: twoFills })],
    });

  test('a filled MARKET trade: every field', () => {
    expect(buildReport(input({ order_type: 'MARKET' }), filledMarket(), 4)).toEqual<ExecutionReport>({
      report_type: 'trade',
      report_id: 'trade-d-1:4',
      decision_id: 'd-1',
      workflow_id: 'trade-d-1',
      order_id: 7001,
      client_order_id: 'te-d-1-e',
      symbol: 'BTCUSDT',
      side: 'BUY',
      order_type: 'MARKET',
      quantity: '0.002',
      status: 'filled',
      success: true,
      filled_quantity: '0.002',
      cancelled_quantity: '0',
      // (72 + 48.008) / 0.002
      avg_fill_price: '60004',
      quote_quantity: '120.008',
      commission: '0.000002',
      commission_asset: 'BTC',
      commissions: { BTC: '0.000002' },
      execution_time: 1234,
      error: null,
      protection_status: 'not_requested',
      timestamp: START + 1234,
    });
  });

  const entry = (spec: OrderSpec) => order({ type: 'LIMIT', price: '59000', ...spec });
  test.each<[string, Partial<RiskDecision>, Partial<TradeState>, Partial<ExecutionReport>]>([
    [
      'partly filled: the unfilled rest is cancelled_quantity',
      {},
      {
        status: 'partially_filled',
        error: 'entry timed out',
        orders: [entry({ state: 'cancelled', exchange: { orderId: 7002, executedQty: '0.0012' }, fills: [twoFills[0]!] })],
      },
      { success: true, filled_quantity: '0.0012', cancelled_quantity: '0.0008', avg_fill_price: '60000', quote_quantity: '72', commission: '0.0000012', error: null },
    ],
    [
      'cancelled with nothing executed: the whole target cancelled, no commission, the first entry named',
      {},
      { status: 'cancelled', error: 'cancelled by operator', orders: [entry({ state: 'cancelled', exchange: { orderId: 7003, executedQty: '0' } })] },
      {
        order_id: 7003,
        client_order_id: 'te-d-1-e',
        status: 'cancelled',
        success: false,
        filled_quantity: '0',
        cancelled_quantity: '0.002',
        avg_fill_price: '0',
        quote_quantity: '0',
        commission: '0',
        commission_asset: null,
        commissions: {},
        error: 'cancelled by operator',
      },
    ],
    [
      'expired after a part: the rest is cancelled_quantity, the error says why',
      { order_type: 'LIMIT' },
      { status: 'expired', error: 'expired on the exchange', orders: [entry({ state: 'expired', exchange: { orderId: 7004, executedQty: '0.0008' }, fills: [twoFills[1]!] })] },
      { order_type: 'LIMIT', status: 'expired', success: false, filled_quantity: '0.0008', cancelled_quantity: '0.0012', avg_fill_price: '60010', error: 'expired on the exchange' },
    ],
    [
      'rejected before any order: no order id, nothing cancelled',
      {},
      { status: 'rejected', error: 'LOT_SIZE: quantity below minQty', orders: [] },
      { order_id: null, client_order_id: null, status: 'rejected', success: false, filled_quantity: '0', cancelled_quantity: '0', error: 'LOT_SIZE: quantity below minQty' },
    ],
    [
      'failed without an error text: error null',
      {},
      { status: 'failed', orders: [order({ state: 'failed' })] },
      { order_id: null, client_order_id: 'te-d-1-e', status: 'failed', success: false, cancelled_quantity: '0', error: null },
    ],
    [
      'the order that did the work is the first that executed (the replacement, not the cancelled entry)',
      {},
      {
        status: 'filled',
        orders: [
          entry({ state: 'cancelled', exchange: { orderId: 7005, executedQty: '0' } }),
          entry({ cid: 'te-d-1-r1', purpose: 'replacement', state: 'filled', exchange: { orderId: 7006, executedQty: '0.002' }, fills: twoFills.map((f) => ({ ...f, orderId: 7006, clientOrderId: 'te-d-1-r1' })) }),
        ],
      },
      { order_id: 7006, client_order_id: 'te-d-1-r1', filled_quantity: '0.002', avg_fill_price: '60004' },
    ],
    [
      'an OCO entry: the decision\'s order type, the leg that filled',
      { order_type: 'OCO' },
      {
        status: 'filled',
        orders: [
          entry({ cid: 'te-d-1-ea', type: 'STOP_LOSS_LIMIT', listClientOrderId: 'te-d-1-el', state: 'expired', exchange: { orderId: 7007, executedQty: '0' } }),
          entry({ cid: 'te-d-1-eb', type: 'LIMIT_MAKER', listClientOrderId: 'te-d-1-el', state: 'filled', exchange: { orderId: 7008, executedQty: '0.002' }, fills: twoFills }),
        ],
      },
      { order_type: 'OCO', order_id: 7008, client_order_id: 'te-d-1-eb', filled_quantity: '0.002' },
    ],
    [
      'entry fills across orders are summed; a bracket\'s fills are not the entry\'s',
      {},
      {
        status: 'filled',
        orders: [
          entry({ state: 'cancelled', exchange: { orderId: 7009, executedQty: '0.0012' }, fills: [twoFills[0]!] }),
          entry({ cid: 'te-d-1-r1', purpose: 'replacement', state: 'filled', exchange: { orderId: 7010, executedQty: '0.0008' }, fills: [twoFills[1]!] }),
          entry({ cid: 'te-d-1-b1', purpose: 'bracket', side: 'SELL', state: 'filled', exchange: { orderId: 7011, executedQty: '0.001998' }, fills: [fill({ tradeId: 103, side: 'SELL', qty: '0.001998', price: '61000', quoteQty: '121.878', commission: '0.121878', commissionAsset: 'USDT' })] }),
        ],
      },
      { order_id: 7009, filled_quantity: '0.002', quote_quantity: '120.008', commission: '0.000002', commission_asset: 'BTC', commissions: { BTC: '0.000002' } },
    ],
    [
      'commissions in two assets: each summed, the largest amount is the report\'s commission',
      {},
      {
        status: 'filled',
        orders: [
          entry({
            state: 'filled',
            exchange: { orderId: 7012, executedQty: '0.002' },
            fills: [
              fill({ tradeId: 104, qty: '0.001', price: '60000', quoteQty: '60', commission: '0.000045', commissionAsset: 'BNB' }),
              fill({ tradeId: 105, qty: '0.0005', price: '60000', quoteQty: '30', commission: '0.0000005', commissionAsset: 'BTC' }),
              fill({ tradeId: 106, qty: '0.0005', price: '60000', quoteQty: '30', commission: '0.0000225', commissionAsset: 'BNB' }),
            ],
          }),
        ],
      },
      { commission: '0.0000675', commission_asset: 'BNB', commissions: { BNB: '0.0000675', BTC: '0.0000005' }, avg_fill_price: '60000', quote_quantity: '120' },
    ],
    [
      'a SELL: the side is the state\'s',
      {},
      { side: 'SELL', status: 'filled', orders: [entry({ side: 'SELL', state: 'filled', exchange: { orderId: 7013, executedQty: '0.002' }, fills: [fill({ tradeId: 107, side: 'SELL', qty: '0.002', price: '60000', quoteQty: '120', commission: '0.12', commissionAsset: 'USDT' })] })] },
      { side: 'SELL', commission: '0.12', commission_asset: 'USDT' },
    ],
    [
      'filled but the bracket was refused: the error says the position is unprotected',
      {},
      { status: 'filled', error: 'bracket refused: NOTIONAL', protection: { status: 'refused', reason: 'NOTIONAL' }, orders: [entry({ state: 'filled', exchange: { orderId: 7014, executedQty: '0.002' }, fills: twoFills })] },
      { success: true, error: 'bracket refused: NOTIONAL', protection_status: 'refused' },
    ],
    [
      'filled, bracket expired by the exchange: its error is carried',
      {},
      { status: 'filled', error: 'bracket expired: self-trade prevention', protection: { status: 'expired' }, orders: [entry({ state: 'filled', exchange: { orderId: 7015, executedQty: '0.002' }, fills: twoFills })] },
      { success: true, error: 'bracket expired: self-trade prevention', protection_status: 'expired' },
    ],
    [
      'filled with its bracket placed: no error even if one was recorded on the way',
      {},
      { status: 'filled', error: 'a transient read failed', protection: { status: 'placed' }, orders: [entry({ state: 'filled', exchange: { orderId: 7016, executedQty: '0.002' }, fills: twoFills })] },
      { success: true, error: null, protection_status: 'placed' },
    ],
    [
      'a trade whose rest was cancelled keeps its bracket\'s status',
      {},
      { status: 'cancelled', protection: { status: 'cancelled' }, orders: [entry({ state: 'cancelled', exchange: { orderId: 7017, executedQty: '0' } })] },
      { success: false, error: null, protection_status: 'cancelled' },
    ],
    [
      'the quantity is the target (after an amend), not the approved size',
      {},
      { status: 'filled', targetQty: '0.0015', approvedQty: '0.002', orders: [entry({ state: 'filled', exchange: { orderId: 7018, executedQty: '0.0015' }, fills: [fill({ tradeId: 108, qty: '0.0015', price: '59000', quoteQty: '88.5', commission: '0.0000015', commissionAsset: 'BTC' })] })] },
      { quantity: '0.0015', filled_quantity: '0.0015', cancelled_quantity: '0', avg_fill_price: '59000' },
    ],
  ])('%s', (_name, d, s, expected) => {
    const report = buildReport(input(d), state({ finishedAt: START + 10, ...s }), 1);
    // Field by field with toEqual: a nested map (commissions) must match exactly, not as a subset.
    const fields = { ...expected, report_id: 'trade-d-1:1', execution_time: 10, timestamp: START + 10 };
    expect(Object.fromEntries(Object.keys(fields).map((k) => [k, report[k as keyof ExecutionReport]]))).toEqual(fields);
  });

  test('a trade not finished yet: no execution time, timestamped now', () => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(5_555_555);
    try {
      const s = state({ status: 'settling', orders: [order({ state: 'submitted', exchange: { orderId: 7019 } })] });
      expect(buildReport(input(), s, 2)).toMatchObject({ report_id: 'trade-d-1:2', execution_time: null, timestamp: 5_555_555, status: 'settling', success: false, cancelled_quantity: '0', order_id: 7019 });
    } finally {
      now.mockRestore();
    }
  });

  test('the same fill seen on two orders is counted once (by trade id)', () => {
    const s = state({
      status: 'filled',
      finishedAt: START + 1,
      orders: [
        order({ state: 'cancelled', exchange: { orderId: 7020, executedQty: '0.0012' }, fills: [twoFills[0]!] }),
        order({ cid: 'te-d-1-r1', purpose: 'replacement', state: 'filled', exchange: { orderId: 7021, executedQty: '0.0008' }, fills: twoFills }),
      ],
    });
    const r = buildReport(input(), s, 1);
    expect([r.filled_quantity, r.quote_quantity, r.commissions]).toEqual(['0.002', '120.008', { BTC: '0.000002' }]);
  });
});
