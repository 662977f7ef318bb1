/**
 * Request weight since 2026-04-02 (CHANGELOG 2026-03-27 / 2026-04-02): successful order
 * requests cost nothing, failed ones their documented weight; an amend only when it made the
 * order expire. The budget reserves the documented weight and gives it back on success.
 */
import { fakeBudget } from './fixtures/fake-budget';
import { DEFAULT_RATE_LIMITS, RateBudget, weightWhenSuccessful, WEIGHT_FREE_WHEN_SUCCESSFUL } from '../../src/exchange/rate-limit';

const used = (b: RateBudget): number => b.usage().budget[0]!.used;

describe('weightWhenSuccessful', () => {
  test.each([...WEIGHT_FREE_WHEN_SUCCESSFUL])('%s: 0', (endpoint) => {
    expect(weightWhenSuccessful(endpoint, 1, {})).toBe(0);
  });
  test.each([
    ['GET /api/v3/order', 4],
    ['GET /api/v3/myTrades', 5],
    ['GET /api/v3/openOrders', 6],
    ['POST /api/v3/order/test', 1],
  ])('%s keeps its documented weight (%i)', (endpoint, w) => {
    expect(weightWhenSuccessful(endpoint, w, {})).toBe(w);
  });
  test('an amend is free only when the amendment expired the order', () => {
    const amend = 'PUT /api/v3/order/amend/keepPriority';
    expect(weightWhenSuccessful(amend, 4, { amendedOrder: { status: 'EXPIRED' } })).toBe(0);
    expect(weightWhenSuccessful(amend, 4, { amendedOrder: { status: 'NEW' } })).toBe(4);
    expect(weightWhenSuccessful(amend, 4, { amendedOrder: { status: 'PARTIALLY_FILLED' } })).toBe(4);
    expect(weightWhenSuccessful(amend, 4, {})).toBe(4);
  });
});

describe('RateBudget.refundWeight', () => {
  test('successful orders given back leave the allowance to everything else', async () => {
    const { b } = fakeBudget(10); // allowance 9
    for (let i = 0; i < 50; i++) {
      await b.acquire(1, 1, 'trade');
      b.refundWeight(1, 1_000_000);
    }
    expect(used(b)).toBe(0);
    expect(b.usage().delayedRequests).toBe(0);
  });

  test('a failed order (no refund) still counts', async () => {
    const { b } = fakeBudget(10);
    await b.acquire(1, 1, 'trade');
    await b.acquire(1, 1, 'trade');
    b.refundWeight(1, 1_000_000);
    expect(used(b)).toBe(1);
  });

  test("never below the window's latest X-MBX-USED-WEIGHT (the exchange's own count)", async () => {
    const { b, now } = fakeBudget(100);
    await b.acquire(1, 1, 'trade');
    // Another process on the IP used 30; the header already leaves out our free order.
    b.observeHeaders({ 'x-mbx-used-weight-1s': '30' }, now());
    b.refundWeight(1, now());
    expect(used(b)).toBe(30);
  });

  test('a reservation from a window that has passed is not taken from the current one', async () => {
    const { b, advance, now } = fakeBudget(100);
    const at = now() + 100;
    advance(100);
    await b.acquire(1, 1, 'trade');
    advance(1000);
    await b.acquire(5, 0, 'read');
    b.refundWeight(1, at);
    expect(used(b)).toBe(5);
  });

  test('a reservation at the end of a window, pre-charged to the next, is given back there too', async () => {
    const { b, advance, now } = fakeBudget(100);
    advance(950); // inside the last tenth of the 1 s window
    const at = now();
    await b.acquire(1, 1, 'trade');
    advance(100); // the next window: the pre-charge is its `used` now
    expect(used(b)).toBe(1);
    b.refundWeight(1, at);
    expect(used(b)).toBe(0);
  });
});

test('RAW_REQUESTS default is 300,000 per 5 minutes (2026-04-02)', () => {
  expect(DEFAULT_RATE_LIMITS).toContainEqual({ rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 });
});
