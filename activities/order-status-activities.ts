/**
 * Reading orders back: an order's current state, and settling one whose submission was never
 * confirmed (it exists, or it does not and never will).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../src/shared/failure-types';
import type { OrderSnapshot } from '../src/shared/trade';
import type { ExchangeCommon, OrderRef } from './exchange-common';

export function createOrderStatusActivities(common: ExchangeCommon) {
  const { deps, settleMargin, sendLog, lookup, outwait, patiently } = common;

  return {
    /** The order's current state; -2013 here is an error (the order was placed), not "absent". */
    queryOrder: (ref: OrderRef): Promise<OrderSnapshot> =>
      patiently('queryOrder', ref, async () => {
        const snap = await lookup(ref);
        if (!snap) {
          throw ApplicationFailure.retryable(`order ${ref.clientOrderId} on ${ref.symbol} does not exist on the exchange`, FailureType.OrderNotFound);
        }
        return snap;
      }),

    /**
     * Settles an order whose submission was never confirmed: the snapshot, or null if it does
     * not exist and never will. Waits out every send the log knows of (and, for sends from before
     * the log, the recvWindow since this activity was scheduled: the last attempt ended before).
     */
    findOrder: (ref: OrderRef & { sendLogId?: string }): Promise<OrderSnapshot | null> =>
      patiently('findOrder', ref, async (attempt) => {
        // An order list's legs are logged under the list's client id.
        const intentId = ref.sendLogId ?? ref.clientOrderId;
        const logged = await sendLog.lastSend(intentId);
        const scheduled = Context.current().info.scheduledTimestampMs + deps.recvWindowMs + settleMargin;
        await outwait(attempt, Math.max(logged ?? 0, scheduled), 'waiting out recvWindow before settling');
        const found = await lookup(ref);
        if (found) return found;
        // Absent. Fence the intent first (a sender that looked before this cannot log a send
        // after it), then look once more for one that logged and sent just before the fence.
        await sendLog.fence(intentId);
        const since = await sendLog.lastSend(intentId);
        if (since !== undefined && since > Date.now()) {
          await outwait(attempt, since, 'a send was logged while settling; waiting it out');
        }
        return (await lookup(ref)) ?? null;
      }),
  };
}
