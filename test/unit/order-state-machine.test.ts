/**
 * The order state machine, pair by pair: every (state, event) of the cross product against a
 * table written out here by hand, so a change to the machine's table must be made twice, on
 * purpose. Then the Binance status mapping, and the workflow's tracked orders recording what the
 * machine refuses instead of dropping it.
 */
import {
  EXCHANGE_ORDER_STATUSES,
  ORDER_EVENTS,
  ORDER_STATES,
  type OrderEvent,
  type OrderState,
  canTransition,
  eventFromExchangeStatus,
  isTerminal,
  nextState,
  stateFromExchangeStatus,
} from '../../src/shared/order-state';
import {
  OPEN_ORDER_STATUSES,
  ORDER_STATUSES,
  TERMINAL_ORDER_STATUSES,
  isOrderStatus,
  orderEventOfStatus,
  orderStateOfStatus,
} from '../../src/persistence/schemas';
import type { OrderSnapshot } from '../../src/shared/trade';
import { MAX_REFUSED_KEPT, applyEvent, applySnapshot, revertCancelRequest, trackOrder, transition } from '../../workflows/tracked-order';

/** 'R' = repeat (no change, nothing recorded), 'X' = refused, else the state moved to. */
type Expected = OrderState | 'R' | 'X';

// Columns, in this order.
const EVENTS = [
  'accepted',
  'partially_filled',
  'filled',
  'cancelled',
  'expired',
  'rejected',
  'late_fill',
  'unknown',
  'intent_recorded',
  'cancel_requested',
  'submit_failed',
  'found_absent',
] as const satisfies readonly OrderEvent[];

// prettier-ignore
const EXPECTED: Record<OrderState, readonly Expected[]> = {
  //                accepted      partially_filled    filled    cancelled    expired    rejected    late_fill           unknown intent  cancel_requested    submit_failed found_absent
  new:              ['submitted', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected', 'X',                'X',    'R',    'X',                'failed',     'not_placed'],
  submitted:        ['R',         'partially_filled', 'filled', 'cancelled', 'expired', 'rejected', 'X',                'X',    'R',    'cancel_requested', 'failed',     'X'],
  partially_filled: ['X',         'partially_filled', 'filled', 'cancelled', 'expired', 'X',        'partially_filled', 'X',    'R',    'cancel_requested', 'X',          'X'],
  cancel_requested: ['submitted', 'partially_filled', 'filled', 'cancelled', 'expired', 'X',        'cancel_requested', 'X',    'R',    'R',                'X',          'X'],
  filled:           ['X',         'X',                'R',      'X',         'X',       'X',        'X',                'X',    'R',    'X',                'X',          'X'],
  cancelled:        ['X',         'partially_filled', 'filled', 'R',         'X',       'X',        'cancelled',        'X',    'R',    'X',                'X',          'X'],
  expired:          ['X',         'partially_filled', 'filled', 'X',         'R',       'X',        'expired',          'X',    'R',    'X',                'X',          'X'],
  rejected:         ['X',         'X',                'X',      'X',         'X',       'R',        'X',                'X',    'R',    'X',                'X',          'X'],
  failed:           ['submitted', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected', 'X',                'X',    'R',    'cancel_requested', 'R',          'not_placed'],
  not_placed:       ['submitted', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected', 'X',                'X',    'R',    'X',                'R',          'R'],
};

const PAIRS = ORDER_STATES.flatMap((state) => EVENTS.map((event, i) => [state, event, EXPECTED[state][i]!] as const));

test('the expected table covers every state and every event of the machine', () => {
  expect([...EVENTS].sort()).toEqual([...ORDER_EVENTS].sort());
  expect(Object.keys(EXPECTED).sort()).toEqual([...ORDER_STATES].sort());
  for (const row of Object.values(EXPECTED)) expect(row).toHaveLength(EVENTS.length);
  expect(PAIRS).toHaveLength(ORDER_STATES.length * ORDER_EVENTS.length);
});

test.each(PAIRS)('(%s, %s) → %s', (state, event, expected) => {
  const r = nextState(state, event);
  if (expected === 'X') {
    expect(r.ok).toBe(false);
    // A refusal says which pair and why.
    if (!r.ok) expect(r.reason).toMatch(new RegExp(`^${state} \\+ ${event}: .{10,}`));
  } else if (expected === 'R') {
    expect(r).toEqual({ ok: true, to: state, repeat: true });
  } else {
    expect(r).toEqual({ ok: true, to: expected, repeat: false });
  }
});

describe('Binance statuses', () => {
  test.each([
    ['NEW', 'accepted', 'submitted'],
    ['PENDING_NEW', 'accepted', 'submitted'],
    ['PARTIALLY_FILLED', 'partially_filled', 'partially_filled'],
    ['FILLED', 'filled', 'filled'],
    ['CANCELED', 'cancelled', 'cancelled'],
    ['PENDING_CANCEL', 'cancel_requested', 'cancel_requested'],
    ['REJECTED', 'rejected', 'rejected'],
    ['EXPIRED', 'expired', 'expired'],
    ['EXPIRED_IN_MATCH', 'expired', 'expired'],
  ] as const)('%s is the event %s and means %s', (status, event, state) => {
    expect(eventFromExchangeStatus(status)).toBe(event);
    expect(stateFromExchangeStatus(status)).toBe(state);
  });

  test('every Binance status is mapped', () => {
    for (const s of EXCHANGE_ORDER_STATUSES) expect(eventFromExchangeStatus(s)).not.toBe('unknown');
  });

  test.each(['TRIGGERED', 'new', '', 'FAILED'])('an unknown status %p is the unknown event, refused in every state, never terminal', (status) => {
    expect(eventFromExchangeStatus(status)).toBe('unknown');
    expect(stateFromExchangeStatus(status)).toBeUndefined();
    for (const state of ORDER_STATES) {
      const r = nextState(state, 'unknown');
      expect(r.ok).toBe(false);
    }
  });
});

test('canTransition agrees with the table for the to-state API', () => {
  expect(canTransition('new', 'submitted')).toBe(true);
  expect(canTransition('partially_filled', 'partially_filled')).toBe(true);
  expect(canTransition('submitted', 'submitted')).toBe(false); // a repeat is not a transition
  expect(canTransition('partially_filled', 'failed')).toBe(false);
  expect(canTransition('cancel_requested', 'failed')).toBe(false);
  expect(canTransition('not_placed', 'filled')).toBe(true);
  expect(canTransition('filled', 'cancelled')).toBe(false);
});

describe('tracked orders', () => {
  const intent = { clientOrderId: 'te-sm-1-entry', purpose: 'entry' as const, symbol: 'BTCUSDT', side: 'BUY' as const, type: 'LIMIT' as const, quantity: '1', price: '100', timeInForce: 'GTC' as const };
  function snap(status: string, executedQty = '0'): OrderSnapshot {
    return { symbol: 'BTCUSDT', orderId: 7, clientOrderId: intent.clientOrderId, status, type: 'LIMIT', side: 'BUY', price: '100', origQty: '1', executedQty, cummulativeQuoteQty: '0' };
  }

  test('an unknown exchange status leaves a working order working and records the refusal', () => {
    const o = trackOrder(intent);
    expect(applySnapshot(o, snap('NEW'), 'submitted', 1)).toBe(true);
    applySnapshot(o, snap('SOMETHING_NEW'), 'poll', 2);
    expect(o.state).toBe('submitted');
    expect(isTerminal(o.state)).toBe(false);
    expect(o.refused).toEqual([
      expect.objectContaining({ state: 'submitted', event: 'unknown', exchangeStatus: 'SOMETHING_NEW', context: 'poll: SOMETHING_NEW executed 0/1', at: 2 }),
    ]);
    // It was NEW (the venue has it) before: the first snapshot with an unknown status still says so.
    const fresh = trackOrder(intent);
    applySnapshot(fresh, snap('SOMETHING_NEW'), 'submitted', 3);
    expect(fresh.state).toBe('submitted');
  });

  test('a refused transition returns false, keeps the state and is recorded with its reason', () => {
    const o = trackOrder(intent);
    applySnapshot(o, snap('PARTIALLY_FILLED', '0.4'), 'push', 1);
    expect(transition(o, 'failed', 'activity failed', 2)).toBe(false);
    expect(o.state).toBe('partially_filled');
    expect(o.refused).toEqual([
      {
        seq: 1,
        state: 'partially_filled',
        event: 'submit_failed',
        reason: expect.stringMatching(/^partially_filled \+ submit_failed: .*orphan/),
        context: 'activity failed',
        at: 2,
      },
    ]);
    // A repeat is not a refusal.
    expect(transition(o, 'cancel_requested', 'timeout', 3)).toBe(true);
    expect(transition(o, 'cancel_requested', 'timeout', 4)).toBe(false);
    expect(o.refused).toHaveLength(1);
  });

  test('refusals are bounded per order', () => {
    const o = trackOrder(intent);
    applySnapshot(o, snap('FILLED', '1'), 'push', 0);
    for (let i = 1; i <= MAX_REFUSED_KEPT + 5; i++) transition(o, 'cancel_requested', `try ${i}`, i);
    expect(o.refused).toHaveLength(MAX_REFUSED_KEPT);
    expect(o.refused?.at(-1)).toMatchObject({ seq: MAX_REFUSED_KEPT + 5, context: `try ${MAX_REFUSED_KEPT + 5}` });
    expect(o.refused?.[0]?.seq).toBe(6);
  });

  test('a fill that raced the cancel is recorded as a late fill on the cancelled order', () => {
    const o = trackOrder(intent);
    applySnapshot(o, snap('NEW'), 'submitted', 1);
    applySnapshot(o, snap('CANCELED', '0'), 'cancel', 2);
    expect(applySnapshot(o, snap('CANCELED', '0.2'), 'push', 3)).toBe(true);
    expect(o.transitions.map((t) => [t.from, t.to])).toEqual([
      ['new', 'submitted'],
      ['submitted', 'cancelled'],
      ['cancelled', 'cancelled'],
    ]);
    expect(o.transitions[2]?.reason).toBe('late fill: push: CANCELED executed 0.2/1');
  });

  test('a cancel that did not happen puts the order back to what the venue last showed', () => {
    const o = trackOrder(intent);
    applySnapshot(o, snap('NEW'), 'submitted', 1);
    transition(o, 'cancel_requested', 'timeout', 2);
    // The cancel call failed, or answered with the order unchanged: applySnapshot sees nothing new.
    expect(applySnapshot(o, snap('NEW'), 'cancel (timeout)', 3)).toBe(false);
    expect(o.state).toBe('cancel_requested');
    expect(revertCancelRequest(o, 'cancel failed: -1001', 4)).toBe(true);
    expect(o.state).toBe('submitted');
    expect(o.transitions.at(-1)).toMatchObject({ from: 'cancel_requested', to: 'submitted', reason: 'cancel failed: -1001', exchangeStatus: 'NEW' });

    const partial = trackOrder(intent);
    applySnapshot(partial, snap('PARTIALLY_FILLED', '0.3'), 'push', 1);
    transition(partial, 'cancel_requested', 'timeout', 2);
    expect(revertCancelRequest(partial, 'cancel failed', 3)).toBe(true);
    expect(partial.state).toBe('partially_filled');
    // Not waiting on a cancel: nothing to revert.
    expect(revertCancelRequest(partial, 'again', 4)).toBe(false);
  });

  test('an order given up on that turns up moves only when the workflow opts in; applyEvent always', () => {
    const legacy = trackOrder(intent);
    transition(legacy, 'failed', 'unknown outcome', 1);
    expect(applySnapshot(legacy, snap('FILLED', '1'), 'push', 2)).toBe(true); // recorded as before
    expect(legacy.state).toBe('failed');
    expect(legacy.refused?.[0]).toMatchObject({ state: 'failed', event: 'filled', reason: expect.stringMatching(/opts in/) });

    const revived = trackOrder(intent);
    transition(revived, 'failed', 'unknown outcome', 1);
    expect(applySnapshot(revived, snap('FILLED', '1'), 'push', 2, { revive: true })).toBe(true);
    expect(revived.state).toBe('filled');

    const settled = trackOrder(intent);
    expect(applyEvent(settled, 'found_absent', 'settled by query', 1)).toBe(true);
    expect(settled.state).toBe('not_placed');
    expect(applyEvent(settled, 'accepted', 'late order turned up', 2)).toBe(true);
    expect(settled.state).toBe('submitted');
  });
});

describe('replay safety: the to-state API takes exactly the moves v1 workflow code took', () => {
  // The v1 table (src/shared/order-state.ts as of bc28240), kept here as the reference.
  const V1_ALLOWED: Record<string, readonly string[]> = {
    new: ['submitted', 'partially_filled', 'filled', 'rejected', 'failed', 'cancelled', 'expired'],
    submitted: ['partially_filled', 'filled', 'cancel_requested', 'cancelled', 'expired', 'rejected', 'failed'],
    partially_filled: ['partially_filled', 'filled', 'cancel_requested', 'cancelled', 'expired'],
    cancel_requested: ['partially_filled', 'filled', 'cancelled', 'expired'],
    cancelled: ['partially_filled', 'filled'],
    expired: ['partially_filled', 'filled'],
    filled: [],
    rejected: [],
    failed: [],
  };
  const V1_STATES = Object.keys(V1_ALLOWED) as OrderState[];
  const cases = V1_STATES.flatMap((from) => V1_STATES.map((to) => [from, to, from === to && to !== 'partially_filled' ? false : V1_ALLOWED[from]!.includes(to)] as const));

  test.each(cases)('%s → %s: %s', (from, to, v1) => {
    const o = { ...trackOrder({ clientOrderId: 'c', purpose: 'entry', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '1' }), state: from };
    expect(transition(o, to, 'r', 1)).toBe(v1);
    expect(o.state).toBe(v1 ? to : from);
  });
});

describe('the orders.status column in the machine\'s terms', () => {
  test.each([
    ['PENDING_SUBMIT', 'new', 'intent_recorded', false],
    ['PENDING_NEW', 'submitted', 'accepted', false],
    ['NEW', 'submitted', 'accepted', false],
    ['PARTIALLY_FILLED', 'partially_filled', 'partially_filled', false],
    ['PENDING_CANCEL', 'cancel_requested', 'cancel_requested', false],
    ['FILLED', 'filled', 'filled', true],
    ['CANCELED', 'cancelled', 'cancelled', true],
    ['REJECTED', 'rejected', 'rejected', true],
    ['EXPIRED', 'expired', 'expired', true],
    ['EXPIRED_IN_MATCH', 'expired', 'expired', true],
    ['NOT_PLACED', 'not_placed', 'found_absent', true],
  ] as const)('%s stands for %s, is the event %s when written, terminal: %s', (status, state, event, terminal) => {
    expect(orderStateOfStatus(status)).toBe(state);
    expect(orderEventOfStatus(status)).toBe(event);
    expect(TERMINAL_ORDER_STATUSES.includes(status)).toBe(terminal);
    expect(OPEN_ORDER_STATUSES.includes(status)).toBe(!terminal);
  });

  test('every status the column holds is covered, and only those', () => {
    expect(ORDER_STATUSES).toHaveLength(11);
    expect(isOrderStatus('NEW')).toBe(true);
    expect(isOrderStatus('SOMETHING_NEW')).toBe(false);
  });
});
