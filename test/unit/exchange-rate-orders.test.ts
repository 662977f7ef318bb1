/**
 * Issue 12, burst: the client's ORDERS budget follows the exchange's own limit and its
 * X-MBX-ORDER-COUNT-* headers, and never holds back an order the venue would accept. Binance
 * allows 100 orders per 10 s per account (and decrements the unfilled order count when orders
 * fill: a header may go down); a burst of 100 must go out at once.
 */
import { budgetOnFakeClock } from './fixtures/fake-budget';

/** An ORDERS 10 s budget (limit 100, Binance's) and a weight limit, on a fake clock. */
function ordersBudget() {
  const budget = budgetOnFakeClock([
    { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
    { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  ]); // starts on a 10 s window boundary
  const orders = () => budget.b.usage().budget.find((w) => w.rateLimitType === 'ORDERS')!.used;
  return { ...budget, orders };
}

const header = (n: number) => ({ 'x-mbx-order-count-10s': String(n) });

test('a burst of 100 orders goes out at once: the whole ORDERS limit, no safety margin below it', async () => {
  const { b, sleeps } = ordersBudget();
  for (let i = 0; i < 100; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  expect(sleeps).toEqual([]);
  // The 101st would be refused by the venue (-1015): it waits for the next window.
  expect(b.tryReserve(1, 1, 'trade')).toBe(1_010_000);
});

test('the weight limit keeps its margin (other processes share the IP)', () => {
  const { b } = ordersBudget();
  let n = 0;
  while (b.tryReserve(100, 0, 'trade') === 0) n++;
  expect(n).toBe(54); // 90 % of 6000 = 5400 weight
});

test("the exchange's count is followed when it is lower than ours (filled orders are decremented)", () => {
  const { b, now, advance, orders } = ordersBudget();
  const sent = now();
  for (let i = 0; i < 100; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  advance(50);
  // Every answer is back; the orders filled as they came, so the venue's count stays low.
  for (let i = 0; i < 99; i++) b.observeHeaders(header(1 + (i % 3)), sent);
  b.observeHeaders(header(2), sent);
  expect(orders()).toBe(2);
  for (let i = 0; i < 98; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  expect(b.tryReserve(1, 1, 'trade')).toBeGreaterThan(now());
});

test('orders still in flight count on top of the header: the venue has not seen them yet', () => {
  const { b, now, orders } = ordersBudget();
  for (let i = 0; i < 60; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  b.observeHeaders(header(1), now()); // the first answer: 1 counted, 59 still on their way
  expect(orders()).toBe(60);
  for (let i = 0; i < 40; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  expect(b.tryReserve(1, 1, 'trade')).toBeGreaterThan(now());
});

test('a header from a request sent before the latest one seen does not lower the count', () => {
  const { b, now, advance, orders } = ordersBudget();
  for (let i = 0; i < 10; i++) b.tryReserve(1, 1, 'trade');
  const early = now();
  advance(100);
  b.observeHeaders(header(10), now()); // sent last, answered first
  b.observeHeaders(header(3), early); // an older answer arriving late: stale
  expect(orders()).toBeGreaterThanOrEqual(10);
});

test('a higher header still raises the count (another process on the account)', () => {
  const { b, now, orders } = ordersBudget();
  b.tryReserve(1, 1, 'trade');
  b.observeHeaders(header(95), now());
  expect(orders()).toBe(95);
  for (let i = 0; i < 5; i++) expect(b.tryReserve(1, 1, 'trade')).toBe(0);
  expect(b.tryReserve(1, 1, 'trade')).toBe(1_010_000);
});

test('orders whose answers never came do not weigh on the next window', () => {
  const { b, now, advance, orders } = ordersBudget();
  for (let i = 0; i < 5; i++) b.tryReserve(1, 1, 'trade'); // lost: no response, no header
  advance(10_000); // the next window
  b.tryReserve(1, 1, 'trade');
  b.observeHeaders(header(1), now());
  expect(orders()).toBe(1);
});
