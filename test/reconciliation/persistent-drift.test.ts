/**
 * A balance drift is `persistent` (alert-worthy) only when the previous reconciliation run saw
 * it too. A drift that one run found, the next run did not, and a later run finds again is a new
 * sighting, not a confirmation, however recent the first one was. Real Postgres and the paper
 * exchange over HTTP; the Reconciler is driven the way the Reconciliation workflow drives it
 * (reconcileBalances, then finish, per run).
 */
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/logging';
import { adjustInventory } from '../../src/persistence/stores/inventory';
import { Reconciler } from '../../src/reconciliation/reconciler';
import type { ReconciliationInput } from '../../src/reconciliation/types';
import { dec, toWire } from '../../src/shared/decimal';
import { usePaperAndDatabase } from './support/paper-and-database';

// Record only: no repair, so the test alone decides what the positions hold.
const INPUT: ReconciliationInput = { symbols: ['BTCUSDT'], repair: false };
const tag = randomBytes(3).toString('hex');

let reconciler: Reconciler;

const env = usePaperAndDatabase('drift', 3, (s) => {
  reconciler = new Reconciler({ pool: s.pool, exchange: s.exchange, logger: createLogger('drift-test', 'warn') });
});

let adjustments = 0;
/** Moves the BTC position by `qty` (signed) without a trade. */
async function shiftPosition(qty: string): Promise<void> {
  const q = dec(qty);
  await adjustInventory(env.pool, {
    symbol: 'BTCUSDT',
    baseAsset: 'BTC',
    quoteAsset: 'USDT',
    kind: q.gt(0) ? 'external_inventory' : 'external_outflow',
    qty: toWire(q.abs()),
    price: '30000',
    idempotencyKey: `test-${tag}-${++adjustments}`,
    reason: 'test',
  });
}

/** One reconciliation pass over balances; BTC's drift row, if any. */
async function runOnce(runId: string): Promise<{ persistent: unknown; diff: unknown } | undefined> {
  const r = await reconciler.reconcileBalances(runId, INPUT, 0);
  await reconciler.finish(runId, INPUT, { checkedSymbols: [], deferredSymbols: [], balancesChecked: true, weight: r.weight });
  const btc = r.drifts.find((d) => d.subject === 'BTC');
  if (!btc) return undefined;
  expect(btc.kind).toBe('balance_drift');
  return { persistent: btc.detail.persistent, diff: btc.detail.diff };
}

test('drift seen by run 1, gone in run 2, back in run 3 is not persistent in run 3; seen again in run 4 it is', async () => {
  const held = dec(env.paper.balances().BTC!.free).plus(env.paper.balances().BTC!.locked);
  expect(held.gt('0.2')).toBe(true);
  // Tracked asset (an adjustment exists), 0.1 BTC short of the account: balance drift.
  await shiftPosition(toWire(held.minus('0.1')));

  expect(await runOnce(`run1-${tag}`)).toEqual({ persistent: false, diff: '0.1' });
  // Positions now match the account: the second run finds nothing for BTC.
  await shiftPosition('0.1');
  expect(await runOnce(`run2-${tag}`)).toBeUndefined();
  // Drift again, minutes after run 1 saw one: run 2 (the previous run) did not, so it is new.
  await shiftPosition('-0.05');
  expect(await runOnce(`run3-${tag}`)).toEqual({ persistent: false, diff: '0.05' });
  // Run 3 saw it, so run 4 confirms it.
  expect(await runOnce(`run4-${tag}`)).toEqual({ persistent: true, diff: '0.05' });
}, 60_000);
