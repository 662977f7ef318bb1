/** Reconciliation's request budget: a run cap and a share of every REQUEST_WEIGHT window. */
import type { RateLimitUsage } from '../../src/exchange';
import { RunBudget, canSpend } from '../../src/reconciliation/budget';

function usage(used: number, limit = 6000, extra: Partial<RateLimitUsage> = {}): RateLimitUsage {
  return {
    usedWeight1m: undefined,
    orderCount10s: undefined,
    orderCount1d: undefined,
    headers: {},
    budget: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit, used, windowStart: 0 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100, used: 100, windowStart: 0 },
    ],
    waitedMs: 0,
    delayedRequests: 0,
    bannedUntil: undefined,
    ...extra,
  };
}

const LIMITS = { maxWeightPerRun: 300, maxShareOfLimit: 0.2 };

test('fits while both the run cap and the window share allow it', () => {
  expect(canSpend(usage(0), 0, 20, LIMITS).ok).toBe(true);
  // Window: 0.2 × 6000 = 1200. 1180 + 20 fits, 1181 + 20 does not.
  expect(canSpend(usage(1180), 0, 20, LIMITS).ok).toBe(true);
  expect(canSpend(usage(1181), 0, 20, LIMITS)).toMatchObject({ ok: false, reason: expect.stringMatching(/1MINUTE: 1181 used \+ 20 > 1200/) });
  // Run cap: 280 + 20 fits, 281 + 20 does not.
  expect(canSpend(usage(0), 280, 20, LIMITS).ok).toBe(true);
  expect(canSpend(usage(0), 281, 20, LIMITS)).toMatchObject({ ok: false, reason: expect.stringMatching(/run budget/) });
  // ORDERS windows are not reconciliation's business (it places none).
});

test('the exchange-reported weight (other processes on the IP) counts when it is higher', () => {
  expect(canSpend(usage(10, 6000, { usedWeight1m: 1190 }), 0, 20, LIMITS).ok).toBe(false);
  expect(canSpend(usage(1190, 6000, { usedWeight1m: 10 }), 0, 20, LIMITS).ok).toBe(false);
});

test('nothing is sent while banned', () => {
  expect(canSpend(usage(0, 6000, { bannedUntil: Date.now() + 60_000 }), 0, 1, LIMITS)).toMatchObject({ ok: false, reason: expect.stringMatching(/banned/) });
});

test('RunBudget charges only what fits', () => {
  let used = 0;
  const b = new RunBudget(() => usage(used), 250, LIMITS);
  expect(b.take(20)).toBe(true);
  used += 20;
  expect(b.take(20)).toBe(true);
  used += 20;
  expect(b.take(20)).toBe(false); // 250 + 40 + 20 > 300
  expect(b.spent).toBe(40);
  expect(b.take(10)).toBe(true);
  expect(b.spent).toBe(50);
});
