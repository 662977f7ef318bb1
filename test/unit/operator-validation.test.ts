/**
 * workflows/operator-validation.ts: every rule that refuses an operator update, each with the
 * exact message (the field and the reason), and the requests each validator accepts.
 */
import type { TradeState } from '../../src/shared/trade';
import type { AmendRequest, SetTimeoutRequest } from '../../workflows/definitions';
import { validateAmend, validateSetTimeout, validateWorking } from '../../workflows/operator-validation';
import { order, state, type OrderSpec } from './fixtures/trade-state';

/** A trade with one resting LIMIT entry, followed (in `working`). */
function resting(overrides: Partial<TradeState> = {}, spec: OrderSpec = {}): TradeState {
  const o = order({ type: 'LIMIT', price: '59000', timeInForce: 'GTC', exchange: { executedQty: '0' }, ...spec });
  return state({ orders: [o], working: [o.intent.clientOrderId], ...overrides });
}

describe('validateWorking: there must be an open order to change', () => {
  test.each<[string, TradeState, string]>([
    ['a finished trade', resting({ status: 'filled', finishedAt: 2_000_000 }), 'trade is already filled; nothing to change'],
    ['a finished trade, even with an order still listed as working', resting({ status: 'cancelled', finishedAt: 2_000_000 }, { state: 'submitted' }), 'trade is already cancelled; nothing to change'],
    ['no order followed', state({ status: 'submitting' }), 'trade has no open order right now (status submitting)'],
    ['the followed order is terminal', resting({ status: 'settling' }, { state: 'filled' }), 'trade has no open order right now (status settling)'],
    ['an open order that is not followed', resting({ working: [] }), 'trade has no open order right now (status working)'],
  ])('refuses %s', (_name, s, message) => {
    expect(() => validateWorking(s)).toThrow(new Error(message));
  });

  test.each<[string, TradeState]>([
    ['one open order followed', resting()],
    ['a partly filled order followed', resting({}, { state: 'partially_filled' })],
    ['an order not yet acknowledged (new)', resting({}, { state: 'new' })],
  ])('accepts %s', (_name, s) => {
    expect(() => validateWorking(s)).not.toThrow();
  });
});

describe('validateAmend', () => {
  const LIST = 'amend: an order list (an OCO, or an entry sent with its protection as one OTOCO) cannot be amended; cancel it instead';
  const twoLegs = (() => {
    const a = order({ cid: 'te-d-1-ea', type: 'STOP_LOSS_LIMIT', listClientOrderId: 'te-d-1-el', exchange: {} });
    const b = order({ cid: 'te-d-1-eb', type: 'LIMIT_MAKER', listClientOrderId: 'te-d-1-el', exchange: {} });
    return state({ orders: [a, b], working: [a.intent.clientOrderId, b.intent.clientOrderId] });
  })();
  const price = (got: unknown) => `price: must be a positive decimal string such as "64000.5", got ${JSON.stringify(got)}`;
  const quantity = (got: unknown) => `quantity: must be a positive decimal string such as "0.002", got ${JSON.stringify(got)}`;

  test.each<[string, TradeState, AmendRequest | undefined, string]>([
    ['a finished trade (checked first)', resting({ status: 'expired', finishedAt: 2_000_000 }), { price: 'x' }, 'trade is already expired; nothing to change'],
    ['no open order', resting({}, { state: 'cancelled' }), { price: '59500' }, 'trade has no open order right now (status working)'],
    ['no request', resting(), undefined, 'amend: give a new price, a new quantity, or both'],
    ['a request with neither field', resting(), {}, 'amend: give a new price, a new quantity, or both'],
    ['an empty request in the bracket phase (the request is checked before the phase)', resting({ phase: 'bracket' }), {}, 'amend: give a new price, a new quantity, or both'],
    ['the bracket phase', resting({ phase: 'bracket' }, { purpose: 'bracket', cid: 'te-d-1-b1' }), { price: '61500' }, 'amend: only the entry order can be amended (the trade is in its bracket phase)'],
    ['an OCO entry (two open legs)', twoLegs, { price: '59500' }, LIST],
    ['an entry sent with its protection (one working order of a list)', resting({}, { listClientOrderId: 'te-d-1-b1l' }), { price: '59500' }, LIST],
    ['a MARKET order', resting({}, { type: 'MARKET', price: undefined, timeInForce: undefined }), { price: '59500' }, 'amend: a MARKET order cannot be amended'],
    ['price zero', resting(), { price: '0' }, price('0')],
    ['price 0.000 (zero with decimals)', resting(), { price: '0.000' }, price('0.000')],
    ['a negative price', resting(), { price: '-59000' }, price('-59000')],
    ['a price as a number', resting(), { price: 59000 as unknown as string }, price(59000)],
    ['a price in exponent notation', resting(), { price: '5.9e4' }, price('5.9e4')],
    ['a price with a trailing point', resting(), { price: '59000.' }, price('59000.')],
    ['a price with no integer digits', resting(), { price: '.5' }, price('.5')],
    ['a price with a sign', resting(), { price: '+59000' }, price('+59000')],
    ['a price with spaces', resting(), { price: ' 59000' }, price(' 59000')],
    ['a price with 21 integer digits', resting(), { price: '1'.repeat(21) }, price('1'.repeat(21))],
    ['a price with 21 decimal places', resting(), { price: `1.${'1'.repeat(21)}` }, price(`1.${'1'.repeat(21)}`)],
    ['a bad price next to a good quantity (the price is named)', resting(), { price: 'abc', quantity: '0.001' }, price('abc')],
    ['quantity zero', resting(), { quantity: '0' }, quantity('0')],
    ['a negative quantity', resting(), { quantity: '-0.001' }, quantity('-0.001')],
    ['a quantity as a number', resting(), { quantity: 0.001 as unknown as string }, quantity(0.001)],
    ['a quantity that is not a number', resting(), { quantity: 'all' }, quantity('all')],
    ['a quantity equal to what already filled', resting({}, { state: 'partially_filled', exchange: { executedQty: '0.001' } }), { quantity: '0.0010' }, 'quantity: 0.0010 is not more than the 0.001 already filled'],
    ['a quantity below what already filled', resting({}, { state: 'partially_filled', exchange: { executedQty: '0.0015' } }), { quantity: '0.001' }, 'quantity: 0.001 is not more than the 0.0015 already filled'],
    ['a quantity above the approved size', resting({ approvedQty: '0.002', targetQty: '0.0015' }), { quantity: '0.0021' }, 'quantity: 0.0021 exceeds the approved size 0.002'],
    ['a quantity above the target when no approved size was recorded (older histories)', resting({ approvedQty: undefined, targetQty: '0.0015' }), { quantity: '0.0016' }, 'quantity: 0.0016 exceeds the approved size 0.0015'],
  ])('refuses %s', (_name, s, req, message) => {
    expect(() => validateAmend(s, req)).toThrow(new Error(message));
  });

  test.each<[string, TradeState, AmendRequest]>([
    ['a new price', resting(), { price: '64000.5' }],
    ['the smallest positive price', resting(), { price: '0.00000001' }],
    ['20 integer digits and 20 decimal places', resting(), { price: `${'9'.repeat(20)}.${'1'.repeat(20)}` }],
    ['a smaller quantity', resting(), { quantity: '0.001' }],
    ['the approved size itself', resting({ targetQty: '0.0015' }), { quantity: '0.002' }],
    ['a quantity back up to the approved size after a reduction', resting({ approvedQty: '0.002', targetQty: '0.001' }), { quantity: '0.0019' }],
    ['a quantity just above what filled', resting({}, { state: 'partially_filled', exchange: { executedQty: '0.001' } }), { quantity: '0.00100001' }],
    ['price and quantity together', resting(), { price: '58000', quantity: '0.0015' }],
    ['a STOP_LOSS_LIMIT entry', resting({}, { type: 'STOP_LOSS_LIMIT', stopPrice: '60500' }), { price: '60700' }],
    ['an order not yet acknowledged (nothing filled)', resting({}, { state: 'new', exchange: undefined }), { quantity: '0.001' }],
  ])('accepts %s', (_name, s, req) => {
    expect(() => validateAmend(s, req)).not.toThrow();
  });
});

describe('validateSetTimeout', () => {
  const NUMBER = 'timeoutMs: must be a whole number of milliseconds, at least 1000';
  const START = 1_000_000;
  test.each<[string, TradeState, SetTimeoutRequest | undefined, number, string]>([
    ['a finished trade (checked first)', resting({ status: 'filled', finishedAt: START + 5 }), undefined, START, 'trade is already filled; nothing to change'],
    ['no open order', state(), { timeoutMs: 60_000 }, START, 'trade has no open order right now (status working)'],
    ['the bracket phase', resting({ phase: 'bracket' }), { timeoutMs: 60_000 }, START, 'timeoutMs: the bracket phase has no timeout'],
    ['no request', resting(), undefined, START, NUMBER],
    ['no timeoutMs', resting(), {} as SetTimeoutRequest, START, NUMBER],
    ['timeoutMs as a string', resting(), { timeoutMs: '60000' as unknown as number }, START, NUMBER],
    ['a fractional timeoutMs', resting(), { timeoutMs: 1500.5 }, START, NUMBER],
    ['timeoutMs below 1000', resting(), { timeoutMs: 999 }, START, NUMBER],
    ['a negative timeoutMs', resting(), { timeoutMs: -60_000 }, START, NUMBER],
    ['NaN', resting(), { timeoutMs: Number.NaN }, START, NUMBER],
    ['Infinity', resting(), { timeoutMs: Number.POSITIVE_INFINITY }, START, NUMBER],
    ['a deadline already past', resting({ startedAt: START }), { timeoutMs: 5000 }, START + 6000, 'timeoutMs: 5000 ms after the start is already in the past'],
    ['a deadline exactly now', resting({ startedAt: START }), { timeoutMs: 5000 }, START + 5000, 'timeoutMs: 5000 ms after the start is already in the past'],
  ])('refuses %s', (_name, s, req, now, message) => {
    expect(() => validateSetTimeout(s, req, now)).toThrow(new Error(message));
  });

  test.each<[string, SetTimeoutRequest, number]>([
    ['the minimum, 1000 ms, still ahead', { timeoutMs: 1000 }, START],
    ['a deadline 1 ms ahead', { timeoutMs: 5000 }, START + 4999],
    ['a long timeout', { timeoutMs: 30 * 24 * 3600 * 1000 }, START + 1000],
  ])('accepts %s', (_name, req, now) => {
    expect(() => validateSetTimeout(resting({ startedAt: START }), req, now)).not.toThrow();
  });
});
