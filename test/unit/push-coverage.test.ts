/**
 * When the user data stream may vouch for an order (src/worker/push-coverage.ts), rule by rule:
 * each test moves the clock and the stream by hand and checks what a workflow is told.
 */
import { PushCoverage } from '../../src/worker/push-coverage';
import type { OrderSnapshot } from '../../src/shared/trade';

const RETAIN = 60_000;
const MARGIN = 5_000;

function setUp(options: { maxRecent?: number } = {}) {
  let now = 1_000_000;
  let up = true;
  const coverage = new PushCoverage({ retainMs: RETAIN, maxRecent: options.maxRecent ?? 1000, marginMs: MARGIN, streamUp: () => up, now: () => now });
  return {
    coverage,
    advance: (ms: number) => (now += ms),
    at: () => now,
    setUp: (value: boolean) => (up = value),
  };
}

function snapshot(clientOrderId: string, status: string, executedQty: string): OrderSnapshot {
  return { symbol: 'BTCUSDT', orderId: 7, clientOrderId, status, type: 'LIMIT', side: 'BUY', price: '59000', origQty: '0.001', executedQty, cummulativeQuoteQty: '0' };
}

const ask = (clientOrderId: string, knownSince: number) => ({ workflowId: `wf-${clientOrderId}`, orders: [{ symbol: 'BTCUSDT', clientOrderId, knownSince }] });

test('nothing is covered before the stream has ever subscribed', () => {
  const t = setUp();
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
});

test('an order known after the stream became intact is covered and watched from then on', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  const answer = t.coverage.cover(ask('a', t.at()));
  expect(answer).toEqual({ covered: ['a'], uncovered: [], snapshots: [] });
  expect(t.coverage.watched.get('a')?.workflowId).toBe('wf-a');
});

test('an order known before the stream became intact (less the clock margin) must be polled', () => {
  const t = setUp();
  const known = t.at();
  t.advance(1_000);
  t.coverage.subscribed();
  t.advance(10_000);
  expect(t.coverage.cover(ask('a', known)).uncovered).toEqual(['a']);
  // Within the margin of the subscription is not enough either: clocks differ.
  expect(t.coverage.cover(ask('b', t.at() - 10_000 + MARGIN - 1)).uncovered).toEqual(['b']);
});

test('an event that arrived before the order was watched is handed to the check, once', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  const known = t.at();
  t.coverage.remember(snapshot('a', 'PARTIALLY_FILLED', '0.0005'));
  const first = t.coverage.cover(ask('a', known));
  expect(first.covered).toEqual(['a']);
  expect(first.snapshots.map((s) => s.executedQty)).toEqual(['0.0005']);
  expect(t.coverage.watched.get('a')).toMatchObject({ status: 'PARTIALLY_FILLED', executedQty: '0.0005' });
  expect(t.coverage.cover(ask('a', known)).snapshots).toEqual([]);
});

test('while the stream is down, or a gap recovery runs, nothing is covered', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  t.coverage.cover(ask('a', t.at()));
  t.setUp(false);
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
  t.setUp(true);
  t.coverage.recovering = true;
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
  t.coverage.recovering = false;
  expect(t.coverage.cover(ask('a', t.at())).covered).toEqual(['a']);
});

test('an order whose signal failed is polled once, then covered again', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  t.coverage.cover(ask('a', t.at()));
  t.coverage.undeliverable('a');
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
  expect(t.coverage.cover(ask('a', t.at())).covered).toEqual(['a']);
});

test('an unwatched order known longer ago than events are kept is polled', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  const known = t.at();
  t.advance(RETAIN + MARGIN + 1);
  expect(t.coverage.cover(ask('a', known)).uncovered).toEqual(['a']);
});

test('when the size cap drops an event, orders known before it are no longer covered', () => {
  const t = setUp({ maxRecent: 2 });
  t.coverage.subscribed();
  t.advance(10_000);
  const known = t.at();
  t.advance(1);
  t.coverage.remember(snapshot('x', 'NEW', '0'));
  t.advance(1);
  t.coverage.remember(snapshot('y', 'NEW', '0'));
  t.advance(1);
  t.coverage.remember(snapshot('z', 'NEW', '0')); // x is dropped: what it said is lost
  expect(t.coverage.cover(ask('x', known)).uncovered).toEqual(['x']);
  t.advance(MARGIN + 10);
  expect(t.coverage.cover(ask('w', t.at())).covered).toEqual(['w']);
});

test('a resubscription after a gap starts coverage again from that moment', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  const known = t.at();
  t.advance(1_000);
  t.coverage.subscribed(); // after a gap
  t.advance(10_000);
  expect(t.coverage.cover(ask('a', known)).uncovered).toEqual(['a']);
  expect(t.coverage.cover(ask('b', t.at())).covered).toEqual(['b']);
});

test('an order let go of while something may have been missed is polled at its next check, once', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  t.coverage.cover(ask('a', t.at()));
  t.coverage.unwatch('a', true);
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
  expect(t.coverage.cover(ask('a', t.at())).covered).toEqual(['a']);
});

test('an order let go of with a signal undelivered is polled at its next check', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  t.coverage.cover(ask('a', t.at()));
  t.coverage.undeliverable('a');
  t.coverage.unwatch('a');
  expect(t.coverage.cover(ask('a', t.at())).uncovered).toEqual(['a']);
});

test('each check that covers a watched order bumps its generation', () => {
  const t = setUp();
  t.coverage.subscribed();
  t.advance(10_000);
  t.coverage.cover(ask('a', t.at()));
  const first = t.coverage.watched.get('a')!.generation;
  t.coverage.cover(ask('a', t.at()));
  expect(t.coverage.watched.get('a')!.generation).toBe(first + 1);
});
