/**
 * Cancelling and amending resting orders: an order, an order list, and a quantity reduction in
 * place. Retried through anything (rule 4 in exchange-activities.ts): a trade must not end while
 * an order of its may still be live.
 */
import { ApplicationFailure } from '@temporalio/common';
import { isBinanceError, isUnlistedCodeAnswer } from '../src/exchange/errors';
import { amendedOrderAsOrder } from '../src/exchange/schemas';
import { dec } from '../src/shared/decimal';
import { FailureType } from '../src/shared/failure-types';
import { isFinalExchangeStatus } from '../src/shared/order-state';
import type { OrderSnapshot } from '../src/shared/trade';
import type { ExchangeCommon, OrderRef } from './exchange-common';
import { readFailure, toFailure } from './exchange-failures';
import { toSnapshot } from './order-snapshots';

export interface AmendQuantityRequest extends OrderRef {
  /** The order's new total quantity (executed included), lower than today's. */
  newQty: string;
}

export function createCancelAmendActivities(common: ExchangeCommon) {
  const { deps, exchange, settleMargin, maxSendDelay, lookup, outwait, patiently } = common;

  return {
    /** Cancels an order list (both legs); a list that is already done is read back instead. */
    cancelOrderList: (args: { symbol: string; listClientOrderId: string; legs: OrderRef[] }): Promise<OrderSnapshot[]> =>
      patiently('cancelOrderList', { symbol: args.symbol, clientOrderId: args.listClientOrderId }, async (attempt) => {
        try {
          await exchange.cancelOrderList(
            { symbol: args.symbol, listClientOrderId: args.listClientOrderId },
            { beforeSend: () => attempt.assertCurrent(args.listClientOrderId) },
          );
        } catch (err) {
          if (!isBinanceError(err, 'not_found') && !(isBinanceError(err, 'rejected') && err.code === -2011)) throw readFailure(err);
        }
        const legs = await Promise.all(args.legs.map((l) => lookup(l)));
        return legs.filter((l): l is OrderSnapshot => l !== undefined);
      }),

    /**
     * Reduces a resting order's quantity in place, keeping its priority in the queue (Binance's
     * `PUT /api/v3/order/amend/keepPriority`). `newQty` is the order's new total, executed part
     * included: the exchange applies it atomically against what has really filled, so no race
     * with a fill can make the order execute more than `newQty`. Repeating the same amend is
     * harmless, so an unknown outcome is settled by reading the order back.
     */
    amendOrderQuantity: (req: AmendQuantityRequest): Promise<OrderSnapshot> =>
      patiently('amendOrderQuantity', req, async (attempt) => {
        const current = await lookup(req);
        if (!current) throw ApplicationFailure.retryable(`order ${req.clientOrderId} to amend is not visible on the exchange`, FailureType.OrderNotFound);
        if (current.origQty === req.newQty || dec(current.origQty).eq(req.newQty) || isFinalExchangeStatus(current.status)) return current;
        let acceptableUntil = Date.now() + maxSendDelay + deps.recvWindowMs + settleMargin;
        try {
          const resp = await exchange.amendOrderKeepPriority(
            // The same client order id after the amend (Binance allows reusing it): without one the
            // exchange makes one up, and the order could no longer be found by ours.
            { symbol: req.symbol, origClientOrderId: req.clientOrderId, newClientOrderId: req.clientOrderId, newQty: req.newQty },
            {
              beforeSend: () => attempt.assertCurrent(req.clientOrderId),
              onSent: (sent) => {
                acceptableUntil = sent.acceptableUntilLocalMs + settleMargin;
              },
            },
          );
          // Binance spells the amended order's fields `qty` and `cumulativeQuoteQty`; ours is the id.
          return { ...toSnapshot(amendedOrderAsOrder(resp)), clientOrderId: req.clientOrderId };
        } catch (err) {
          if (isBinanceError(err, 'rejected') || isUnlistedCodeAnswer(err)) {
            // Refused (e.g. the new quantity is not above what has filled, -2038 too many
            // amends; or a code we do not know, which is still an answer): the order is as the
            // exchange has it, read back; the workflow decides what follows.
            const after = await lookup(req);
            if (after) return after;
            throw toFailure(err);
          }
          if (!isBinanceError(err, 'unknown_outcome')) throw readFailure(err);
          await outwait(attempt, acceptableUntil, 'waiting out recvWindow before reading the amend back');
          const after = await lookup(req);
          if (after && (dec(after.origQty).eq(req.newQty) || isFinalExchangeStatus(after.status))) return after;
          throw toFailure(err);
        }
      }),

    /**
     * Cancels the rest of an order. If the order is already final (filled while we were asking)
     * Binance answers -2011; the order's real final state is then read back, so a fill that
     * raced the cancel is never lost. Retried through anything: a trade must not end while an
     * order of its may still be live.
     */
    cancelOrder: (ref: OrderRef): Promise<OrderSnapshot> =>
      patiently('cancelOrder', ref, async (attempt) => {
        try {
          const resp = await exchange.cancelOrder(
            { symbol: ref.symbol, origClientOrderId: ref.clientOrderId },
            { beforeSend: () => attempt.assertCurrent(ref.clientOrderId) },
          );
          return { ...toSnapshot(resp), clientOrderId: ref.clientOrderId };
        } catch (err) {
          if (isBinanceError(err, 'not_found') || (isBinanceError(err, 'rejected') && err.code === -2011)) {
            const snap = await lookup(ref);
            if (snap) return snap;
            throw ApplicationFailure.retryable(`order ${ref.clientOrderId} to cancel is not visible on the exchange yet`, FailureType.OrderNotFound);
          }
          throw readFailure(err);
        }
      }),
  };
}
