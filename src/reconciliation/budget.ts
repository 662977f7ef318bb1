/**
 * Reconciliation's share of the exchange request budget.
 *
 * The client's own RateBudget already waits instead of exceeding a limit, so nothing sent
 * through it can earn a 429 or a ban. But waiting is not enough for reconciliation: a pass over
 * many symbols could take the whole minute's weight and make the trading path wait. So each
 * reconciliation request must fit two caps before it is sent, and a run that does not fit
 * stops and leaves the remaining symbols to the next run (least recently checked first):
 *
 *  - per run: at most `maxWeightPerRun` weight in total;
 *  - per window: the weight used in the current window of every REQUEST_WEIGHT limit (ours and
 *    what the exchange's headers report, whichever is larger), plus this request, stays within
 *    `maxShareOfLimit` of the limit. Reconciliation thus only uses spare capacity and yields
 *    to trading when trading is busy.
 */
import type { RateLimitUsage } from '../exchange';

/** Binance Spot request weights of the calls reconciliation makes. */
export const WEIGHTS = {
  account: 20,
  myTrades: 20,
  openOrdersOneSymbol: 6,
  openOrdersAll: 80,
  getOrder: 4,
  tickerPrice: 2,
} as const;

export interface BudgetLimits {
  maxWeightPerRun: number;
  /** 0..1 of each REQUEST_WEIGHT limit. */
  maxShareOfLimit: number;
}

export interface BudgetDecision {
  ok: boolean;
  reason?: string;
}

export function canSpend(usage: RateLimitUsage, spentThisRun: number, weight: number, limits: BudgetLimits): BudgetDecision {
  if (spentThisRun + weight > limits.maxWeightPerRun) {
    return { ok: false, reason: `run budget: ${spentThisRun} + ${weight} > ${limits.maxWeightPerRun}` };
  }
  if (usage.bannedUntil !== undefined && usage.bannedUntil > Date.now()) {
    return { ok: false, reason: `banned until ${new Date(usage.bannedUntil).toISOString()}` };
  }
  for (const w of usage.budget) {
    if (w.rateLimitType !== 'REQUEST_WEIGHT') continue;
    let used = w.used;
    // The 1-minute header reflects everyone on this IP; the local count only this process.
    if (w.interval === 'MINUTE' && w.intervalNum === 1 && usage.usedWeight1m !== undefined) used = Math.max(used, usage.usedWeight1m);
    const cap = Math.floor(w.limit * limits.maxShareOfLimit);
    if (used + weight > cap) {
      return { ok: false, reason: `window ${w.intervalNum}${w.interval}: ${used} used + ${weight} > ${cap} (${limits.maxShareOfLimit} of ${w.limit})` };
    }
  }
  return { ok: true };
}

/** Tracks what one activity spends and refuses what would not fit. */
export class RunBudget {
  spent = 0;
  constructor(
    private readonly usage: () => RateLimitUsage,
    private readonly alreadySpent: number,
    private readonly limits: BudgetLimits,
  ) {}

  check(weight: number): BudgetDecision {
    return canSpend(this.usage(), this.alreadySpent + this.spent, weight, this.limits);
  }

  /** Charges `weight` if it fits; false otherwise (nothing charged). */
  take(weight: number): boolean {
    if (!this.check(weight).ok) return false;
    this.spent += weight;
    return true;
  }
}
