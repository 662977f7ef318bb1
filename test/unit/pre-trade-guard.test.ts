/**
 * Every rule of the pre-trade risk guard, table-driven: what passes, what is refused with which
 * rule, and the figures the reason names. Pure logic, exact decimals.
 */
import {
  DEFAULT_RISK_LIMITS,
  checkOrderNotional,
  checkOrderRate,
  checkPositionNotional,
  checkPriceCollar,
  orderNotional,
  preTradeRefusals,
  riskLimitsFromConfig,
  type PreTradeInput,
  type RiskLimits,
} from '../../src/risk/pre-trade-guard';
import { loadConfig } from '../../src/config';

const LIMITS: RiskLimits = { maxOrderNotional: '1000', maxPositionNotional: '5000', priceCollarPct: '10', passivePriceCollarPct: '50', maxOrdersPerMinute: 10 };

const base: PreTradeInput = {
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.01',
  notional: '600',
  markPrice: '60000',
  positionQuantity: '0',
  ordersLastMinute: 0,
};
const input = (o: Partial<PreTradeInput>): PreTradeInput => ({ ...base, ...o });

describe('max_order_notional', () => {
  test.each([
    ['0.01 at the mark (600)', {}, undefined],
    ['a hair above the limit (1000.0000000000000002)', { quantity: '0.01666666666666666667', notional: '1000' }, 'max_order_notional'],
    ['0.0166 at 60000 = 996', { quantity: '0.0166', notional: '996' }, undefined],
    ['1 BTC MARKET = 60000', { quantity: '1', notional: '60000' }, 'max_order_notional'],
    ['1e30 BTC', { quantity: '1000000000000000000000000000000', notional: '6e34' }, 'max_order_notional'],
    // prepareOrder's notional understated (a stale market price): the guard's own figure counts.
    ['given notional below quantity x mark', { quantity: '1', notional: '1' }, 'max_order_notional'],
    ['a LIMIT is valued at its price', { type: 'LIMIT', quantity: '0.02', price: '49000', notional: '980' }, undefined],
    ['a LIMIT above the limit at its price', { type: 'LIMIT', quantity: '0.02', price: '51000', notional: '1020' }, 'max_order_notional'],
  ] as const)('%s', (_name, o, rule) => {
    const r = checkOrderNotional(input(o), LIMITS);
    expect(r?.rule).toBe(rule);
  });

  test('exactly at the limit passes; one unit of the last decimal above refuses', () => {
    expect(checkOrderNotional(input({ type: 'LIMIT', quantity: '1', price: '1000', notional: '1000' }), LIMITS)).toBeUndefined();
    expect(checkOrderNotional(input({ type: 'LIMIT', quantity: '1', price: '1000.00000001', notional: '1000.00000001' }), LIMITS)?.rule).toBe('max_order_notional');
  });

  test('the reason names the order, its notional, the limit and the setting', () => {
    expect(checkOrderNotional(input({ quantity: '1', notional: '60000' }), LIMITS)?.reason).toBe(
      'BUY 1 BTCUSDT is 60000 in the quote asset, above the limit of 1000 per order (RISK_MAX_ORDER_NOTIONAL)',
    );
  });

  test('0 turns it off', () => {
    expect(checkOrderNotional(input({ quantity: '1000' }), { ...LIMITS, maxOrderNotional: '0' })).toBeUndefined();
  });

  test('orderNotional is exact', () => {
    expect(orderNotional({ quantity: '0.1', markPrice: '0.2', notional: '0' }).toString()).toBe('0.02');
  });
});

describe('max_position_notional', () => {
  test.each([
    ['flat, BUY 0.01', {}, undefined],
    ['0.08 held, BUY 0.01 -> 0.09 = 5400', { positionQuantity: '0.08' }, 'max_position_notional'],
    ['0.07 held, BUY 0.01 -> 0.08 = 4800', { positionQuantity: '0.07' }, undefined],
    // Reducing is never refused, even from above the limit (it was lowered, or prices rose).
    ['0.2 held (12000), SELL 0.01', { positionQuantity: '0.2', side: 'SELL' }, undefined],
    ['0.2 held, SELL 0.3 -> -0.1: smaller than before', { positionQuantity: '0.2', side: 'SELL', quantity: '0.3', notional: '18000' }, undefined],
    ['0.05 held, SELL 0.2 -> -0.15 = 9000, larger than before', { positionQuantity: '0.05', side: 'SELL', quantity: '0.2', notional: '12000' }, 'max_position_notional'],
    ['short 0.08, SELL 0.01 -> -0.09', { positionQuantity: '-0.08', side: 'SELL' }, 'max_position_notional'],
    ['short 0.08, BUY 0.01 reduces', { positionQuantity: '-0.08' }, undefined],
  ] as const)('%s', (_name, o, rule) => {
    expect(checkPositionNotional(input(o), LIMITS)?.rule).toBe(rule);
  });

  test('the reason names the position before and after, its value, the mark and the limit', () => {
    expect(checkPositionNotional(input({ positionQuantity: '0.08' }), LIMITS)?.reason).toBe(
      'BTCUSDT position would go from 0.08 to 0.09, worth 5400 at the mark 60000, above the limit of 5000 (RISK_MAX_POSITION_NOTIONAL)',
    );
  });

  test('0 turns it off', () => {
    expect(checkPositionNotional(input({ positionQuantity: '100' }), { ...LIMITS, maxPositionNotional: '0' })).toBeUndefined();
  });
});

describe('price_collar', () => {
  // Mark 60000; through the market 10 %, resting side 50 %.
  test.each([
    ['MARKET has no price', {}, undefined],
    ['BUY LIMIT at the mark', { type: 'LIMIT', price: '60000' }, undefined],
    ['BUY LIMIT 10 % above (66000) passes', { type: 'LIMIT', price: '66000' }, undefined],
    ['BUY LIMIT 10.0001 % above refuses', { type: 'LIMIT', price: '66000.06' }, 'price_collar'],
    ['BUY LIMIT at 600000 (an extra zero)', { type: 'LIMIT', price: '600000' }, 'price_collar'],
    ['BUY LIMIT 20 % below rests: passes', { type: 'LIMIT', price: '48000' }, undefined],
    ['BUY LIMIT 50 % below passes', { type: 'LIMIT', price: '30000' }, undefined],
    ['BUY LIMIT at 6000 (a dropped zero)', { type: 'LIMIT', price: '6000' }, 'price_collar'],
    ['SELL LIMIT 10 % below passes', { side: 'SELL', type: 'LIMIT', price: '54000' }, undefined],
    ['SELL LIMIT 11 % below refuses', { side: 'SELL', type: 'LIMIT', price: '53400' }, 'price_collar'],
    ['SELL LIMIT 40 % above rests: passes', { side: 'SELL', type: 'LIMIT', price: '84000' }, undefined],
    ['SELL LIMIT 60 % above refuses', { side: 'SELL', type: 'LIMIT', price: '96000' }, 'price_collar'],
    ['stop price checked too', { type: 'STOP_LOSS_LIMIT', price: '60600', stopPrice: '70000' }, 'price_collar'],
    ['stop-limit within the collar', { type: 'STOP_LOSS_LIMIT', price: '60600', stopPrice: '60500' }, undefined],
  ] as const)('%s', (_name, o, rule) => {
    expect(checkPriceCollar(input(o), LIMITS)?.rule).toBe(rule);
  });

  test('the reason names the field, the price, how far from the mark, the collar and the setting', () => {
    expect(checkPriceCollar(input({ type: 'LIMIT', price: '600000' }), LIMITS)?.reason).toBe(
      'BUY LIMIT price 600000 is 900 % above the mark 60000 of BTCUSDT, beyond the through-the-market collar of 10 % (RISK_PRICE_COLLAR_PCT)',
    );
    expect(checkPriceCollar(input({ side: 'SELL', type: 'STOP_LOSS_LIMIT', price: '59000', stopPrice: '99000' }), LIMITS)?.reason).toBe(
      'SELL STOP_LOSS_LIMIT stopPrice 99000 is 65 % above the mark 60000 of BTCUSDT, beyond the resting-side collar of 50 % (RISK_PASSIVE_PRICE_COLLAR_PCT)',
    );
  });

  test('each side turns off on its own', () => {
    expect(checkPriceCollar(input({ type: 'LIMIT', price: '600000' }), { ...LIMITS, priceCollarPct: '0' })).toBeUndefined();
    expect(checkPriceCollar(input({ type: 'LIMIT', price: '6000' }), { ...LIMITS, priceCollarPct: '0' })?.rule).toBe('price_collar');
    expect(checkPriceCollar(input({ type: 'LIMIT', price: '6000' }), { ...LIMITS, passivePriceCollarPct: '0' })).toBeUndefined();
  });
});

describe('max_order_rate', () => {
  test.each([
    [0, undefined],
    [9, undefined], // this order is the 10th
    [10, 'max_order_rate'],
    [500, 'max_order_rate'],
  ] as const)('%i orders in the last minute', (n, rule) => {
    expect(checkOrderRate(input({ ordersLastMinute: n }), LIMITS)?.rule).toBe(rule);
  });

  test('the reason names the count and the limit; 0 turns it off', () => {
    expect(checkOrderRate(input({ ordersLastMinute: 10 }), LIMITS)?.reason).toBe(
      'the account sent 10 orders in the last minute; the limit is 10 per minute (RISK_MAX_ORDERS_PER_MINUTE)',
    );
    expect(checkOrderRate(input({ ordersLastMinute: 10_000 }), { ...LIMITS, maxOrdersPerMinute: 0 })).toBeUndefined();
  });
});

describe('all rules together', () => {
  test('every refusal in rule order; none for an ordinary order', () => {
    expect(preTradeRefusals(input({}), LIMITS)).toEqual([]);
    const all = preTradeRefusals(input({ type: 'LIMIT', quantity: '1', price: '600000', notional: '600000', ordersLastMinute: 99 }), LIMITS);
    expect(all.map((r) => r.rule)).toEqual(['price_collar', 'max_order_notional', 'max_position_notional', 'max_order_rate']);
  });

  test('a mark that is not a positive price is an error, not a pass', () => {
    expect(() => preTradeRefusals(input({ markPrice: '0' }), LIMITS)).toThrow(/markPrice/);
  });

  test('the defaults stop a fat finger and let ordinary trades through', () => {
    const d = DEFAULT_RISK_LIMITS;
    expect(preTradeRefusals(input({ quantity: '0.001', notional: '60' }), d)).toEqual([]);
    expect(preTradeRefusals(input({ type: 'LIMIT', quantity: '0.002', price: '50000', notional: '100' }), d)).toEqual([]);
    expect(preTradeRefusals(input({ quantity: '500', notional: '30000000' }), d).map((r) => r.rule)).toContain('max_order_notional');
    expect(preTradeRefusals(input({ type: 'LIMIT', quantity: '0.001', price: '600000', notional: '600' }), d).map((r) => r.rule)).toEqual(['price_collar']);
  });

  test('limits from the environment, with the documented defaults', () => {
    expect(riskLimitsFromConfig(loadConfig({}))).toEqual(DEFAULT_RISK_LIMITS);
    expect(
      riskLimitsFromConfig(
        loadConfig({ RISK_MAX_ORDER_NOTIONAL: '2500.5', RISK_MAX_POSITION_NOTIONAL: '0', RISK_PRICE_COLLAR_PCT: '2.5', RISK_PASSIVE_PRICE_COLLAR_PCT: '30', RISK_MAX_ORDERS_PER_MINUTE: '60' }),
      ),
    ).toEqual({ maxOrderNotional: '2500.5', maxPositionNotional: '0', priceCollarPct: '2.5', passivePriceCollarPct: '30', maxOrdersPerMinute: 60 });
    expect(() => loadConfig({ RISK_MAX_ORDER_NOTIONAL: '-1' })).toThrow(/RISK_MAX_ORDER_NOTIONAL: must be a decimal number >= 0/);
    expect(() => loadConfig({ RISK_PRICE_COLLAR_PCT: '1e3' })).toThrow(/RISK_PRICE_COLLAR_PCT/);
  });
});
