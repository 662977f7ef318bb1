/**
 * The activities that may place an order: a single order, an OCO list, an entry with its
 * protection as one OTOCO/OPOCO list, and (for executions that began before the cancel-then-
 * place amend) cancel-replace. Each goes through submitOnce (submit-once.ts) or, for
 * cancel-replace, its own settle-before-resend rule.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isBinanceError } from '../src/exchange/errors';
import { FailureType } from '../src/shared/failure-types';
import type {
  OcoIntent,
  OrderIntent,
  PlaceOrderListResult,
  PlaceOrderResult,
  PlaceProtectedEntryResult,
  ProtectedEntryIntent,
  ReplaceOrderResult,
} from '../src/shared/trade';
import { asCurrentAttempt, superseded, type CurrentAttempt } from './current-attempt';
import type { ExchangeCommon, OrderRef } from './exchange-common';
import { readFailure, toFailure } from './exchange-failures';
import { fromResponse, legsOf, responseFills } from './order-snapshots';
import type { Submission } from './submit-once';

export function createPlacementActivities(common: ExchangeCommon, submission: Submission) {
  const { deps, exchange, settleMargin, maxSendDelay, sendLog, stpMode, lookup, outwait } = common;
  const { submitOnce, watchingSend } = submission;

  function placeOrderOnce(intent: OrderIntent): Promise<PlaceOrderResult> {
    return submitOnce<PlaceOrderResult>(
      intent.clientOrderId,
      { clientOrderId: intent.clientOrderId },
      async () => {
        const order = await lookup(intent);
        return order && { order, adopted: true };
      },
      async (hooks) => {
        const resp = await watchingSend(
          [intent],
          () =>
            exchange.newOrder({
              symbol: intent.symbol,
              side: intent.side,
              type: intent.type,
              quantity: intent.quantity,
              price: intent.price,
              stopPrice: intent.stopPrice,
              timeInForce: intent.timeInForce,
              newClientOrderId: intent.clientOrderId,
              ...stpMode(intent.purpose),
            }, hooks),
          (r) => ({ status: r.status, executedQty: r.executedQty }),
        );
        const fills = responseFills(resp, intent.clientOrderId);
        const last = fills?.[fills.length - 1];
        // Our own fill is a trade on the venue just now: as good a mark as ticker/price's last price.
        if (last) deps.marks?.set(resp.symbol, last.price);
        return { order: fromResponse(resp), adopted: false, ...(fills ? { fills } : {}) };
      },
    );
  }

  function placeOrderListOnce(oco: OcoIntent): Promise<PlaceOrderListResult> {
    const findList = async (): Promise<PlaceOrderListResult | undefined> => {
      try {
        const list = await exchange.getOrderList({ origClientOrderId: oco.listClientOrderId });
        const [above, below] = await Promise.all([lookup(oco.above), lookup(oco.below)]);
        if (!above || !below) throw ApplicationFailure.retryable(`order list ${oco.listClientOrderId} exists but a leg is not visible yet`, 'OrderNotFound');
        return { orderListId: list.orderListId, above, below, adopted: true };
      } catch (err) {
        if (isBinanceError(err, 'not_found')) return undefined;
        throw readFailure(err);
      }
    };
    return submitOnce<PlaceOrderListResult>(oco.listClientOrderId, { listClientOrderId: oco.listClientOrderId }, findList, async (hooks) => {
      const resp = await watchingSend([oco.above, oco.below], () => exchange.newOco({
        symbol: oco.symbol,
        side: oco.side,
        quantity: oco.quantity,
        listClientOrderId: oco.listClientOrderId,
        aboveType: oco.above.type as 'LIMIT_MAKER' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT_LIMIT',
        aboveClientOrderId: oco.above.clientOrderId,
        abovePrice: oco.above.price,
        aboveStopPrice: oco.above.stopPrice,
        aboveTimeInForce: oco.above.type === 'LIMIT_MAKER' ? undefined : 'GTC',
        belowType: oco.below.type as 'LIMIT_MAKER' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT_LIMIT',
        belowClientOrderId: oco.below.clientOrderId,
        belowPrice: oco.below.price,
        belowStopPrice: oco.below.stopPrice,
        belowTimeInForce: oco.below.type === 'LIMIT_MAKER' ? undefined : 'GTC',
        ...stpMode(oco.above.purpose),
      }, hooks));
      return { orderListId: resp.orderListId, ...legsOf(resp, oco), adopted: false };
    });
  }

  /**
   * Places an entry and its protective OCO as one OTOCO/OPOCO list, exactly once: the same
   * settle-before-resend rule as an OCO, keyed by the list's client id.
   */
  function placeProtectedEntryOnce(entry: ProtectedEntryIntent): Promise<PlaceProtectedEntryResult> {
    // The working order of an OTO is a LIMIT or LIMIT_MAKER: it always has a price (order-plans.ts).
    const priceOf = (o: OrderIntent): string => {
      if (o.price === undefined) throw ApplicationFailure.nonRetryable(`workingPrice: ${o.clientOrderId} has no price; an OTO's working order must be LIMIT or LIMIT_MAKER`, 'OrderRejected');
      return o.price;
    };
    const legs = [entry.working, entry.above, entry.below];
    const findList = async (): Promise<PlaceProtectedEntryResult | undefined> => {
      try {
        const list = await exchange.getOrderList({ origClientOrderId: entry.listClientOrderId });
        const [working, above, below] = await Promise.all(legs.map((l) => lookup(l)));
        if (!working || !above || !below) throw ApplicationFailure.retryable(`order list ${entry.listClientOrderId} exists but an order is not visible yet`, 'OrderNotFound');
        return { orderListId: list.orderListId, working, above, below, adopted: true };
      } catch (err) {
        if (isBinanceError(err, 'not_found')) return undefined;
        throw readFailure(err);
      }
    };
    const pendingTif = (o: OrderIntent): 'GTC' | undefined => (o.type === 'LIMIT_MAKER' ? undefined : 'GTC');
    return submitOnce<PlaceProtectedEntryResult>(entry.listClientOrderId, { listClientOrderId: entry.listClientOrderId }, findList, async (hooks) => {
      const common = {
        symbol: entry.symbol,
        listClientOrderId: entry.listClientOrderId,
        workingType: entry.working.type as 'LIMIT' | 'LIMIT_MAKER',
        workingSide: entry.working.side,
        workingClientOrderId: entry.working.clientOrderId,
        workingPrice: priceOf(entry.working),
        workingQuantity: entry.working.quantity,
        workingTimeInForce: entry.working.type === 'LIMIT' ? (entry.working.timeInForce ?? 'GTC') : undefined,
        pendingSide: entry.above.side,
        pendingAboveType: entry.above.type as 'LIMIT_MAKER' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT_LIMIT',
        pendingAboveClientOrderId: entry.above.clientOrderId,
        pendingAbovePrice: entry.above.price,
        pendingAboveStopPrice: entry.above.stopPrice,
        pendingAboveTimeInForce: pendingTif(entry.above),
        pendingBelowType: entry.below.type as 'LIMIT_MAKER' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT_LIMIT',
        pendingBelowClientOrderId: entry.below.clientOrderId,
        pendingBelowPrice: entry.below.price,
        pendingBelowStopPrice: entry.below.stopPrice,
        pendingBelowTimeInForce: pendingTif(entry.below),
        // One mode for the whole list, and the list holds the exits: as for every exit.
        ...stpMode('bracket'),
      };
      const resp = await watchingSend(legs, () =>
        entry.pays ? exchange.newOpoco(common, hooks) : exchange.newOtoco({ ...common, pendingQuantity: entry.pendingQuantity ?? entry.working.quantity }, hooks),
      );
      const report = (o: OrderIntent) => {
        const r = resp.orderReports.find((x) => x.clientOrderId === o.clientOrderId);
        if (!r) throw ApplicationFailure.retryable(`order list response has no report for ${o.clientOrderId}`, 'ExchangeUnknownOutcome');
        return { ...r, fills: r.fills ?? [] };
      };
      const workingReport = report(entry.working);
      const fills = responseFills(workingReport, entry.working.clientOrderId);
      return {
        orderListId: resp.orderListId,
        working: fromResponse(workingReport),
        above: fromResponse(report(entry.above)),
        below: fromResponse(report(entry.below)),
        adopted: false,
        ...(fills ? { fills } : {}),
      };
    });
  }

  async function replaceOrderOnce(attempt: CurrentAttempt, args: { old: OrderRef; replacement: OrderIntent }): Promise<ReplaceOrderResult> {
    const info = Context.current().info;
    const settle = async (): Promise<ReplaceOrderResult | undefined> => {
      const replacement = (await lookup(args.replacement)) ?? null;
      const old = await lookup(args.old);
      if (!old) throw ApplicationFailure.nonRetryable(`order ${args.old.clientOrderId} to amend does not exist`, FailureType.OrderNotFound);
      if (replacement || old.status !== 'NEW') return { old, replacement };
      return undefined;
    };
    if (info.attempt > 1) {
      await outwait(attempt, info.currentAttemptScheduledTimestampMs + deps.recvWindowMs + settleMargin, 'waiting out recvWindow before settling');
      const settled = await settle();
      if (settled) return settled;
    }
    const r = args.replacement;
    let acceptableUntil = Date.now() + maxSendDelay + deps.recvWindowMs + settleMargin;
    attempt.assertCurrent(r.clientOrderId);
    const seen = await sendLog.read(r.clientOrderId);
    if ((await sendLog.claimSend(r.clientOrderId, seen.version, acceptableUntil)) === undefined) {
      throw superseded(`${r.clientOrderId}: another sender logged this replacement; not sending`);
    }
    try {
      const res = await watchingSend([r], () => exchange.cancelReplace({
        symbol: r.symbol,
        side: r.side,
        type: r.type,
        timeInForce: r.timeInForce,
        quantity: r.quantity,
        price: r.price,
        stopPrice: r.stopPrice,
        newClientOrderId: r.clientOrderId,
        cancelOrigClientOrderId: args.old.clientOrderId,
        cancelReplaceMode: 'STOP_ON_FAILURE',
        ...stpMode(r.purpose),
      }, {
        beforeSend: () => attempt.assertCurrent(r.clientOrderId),
        onSent: (sent) => {
          acceptableUntil = sent.acceptableUntilLocalMs + settleMargin;
        },
      }));
      const old = await lookup(args.old);
      if (!old) throw ApplicationFailure.retryable(`order ${args.old.clientOrderId} vanished during amend`, 'OrderNotFound');
      const placed = res.newOrderResult === 'SUCCESS' ? ((await lookup(r)) ?? null) : null;
      const why = (x: unknown) => (x && typeof x === 'object' && 'msg' in x ? String((x as { msg: unknown }).msg) : undefined);
      const error =
        res.cancelResult === 'FAILURE'
          ? `cancel failed: ${why(res.cancelResponse) ?? 'unknown'}`
          : res.newOrderResult === 'FAILURE'
            ? `replacement rejected: ${why(res.newOrderResponse) ?? 'unknown'}`
            : undefined;
      return error ? { old, replacement: placed, error } : { old, replacement: placed };
    } catch (err) {
      if (!isBinanceError(err, 'unknown_outcome')) throw toFailure(err);
      await outwait(attempt, acceptableUntil, 'waiting out recvWindow before settling');
      const settled = await settle();
      if (settled) return settled;
      throw toFailure(err);
    }
  }

  return {
    /**
     * Submits an order exactly once, whatever happens on the wire (the rules at the top of
     * exchange-activities.ts): a send that may have happened before is settled by query first; an unknown outcome
     * is settled before any resend; -2010 "Duplicate order sent." adopts the open order.
     */
    placeOrder: (intent: OrderIntent): Promise<PlaceOrderResult> => placeOrderOnce(intent),

    /**
     * Places an OCO order list exactly once: the same settle-before-resend rule as placeOrder,
     * keyed by the list's client id.
     */
    placeOrderList: (oco: OcoIntent): Promise<PlaceOrderListResult> => placeOrderListOnce(oco),

    /** Places an entry with its protective OCO as one OTOCO/OPOCO list (see placeProtectedEntryOnce). */
    placeProtectedEntry: (entry: ProtectedEntryIntent): Promise<PlaceProtectedEntryResult> => placeProtectedEntryOnce(entry),

    /**
     * Amends a resting order by cancel-replace (kept for executions that began before the
     * cancel-then-place amend; see workflows/legacy). STOP_ON_FAILURE: if the old order can no
     * longer be cancelled (it filled), no replacement is placed.
     */
    replaceOrder: (args: { old: OrderRef; replacement: OrderIntent }): Promise<ReplaceOrderResult> =>
      asCurrentAttempt((attempt) => replaceOrderOnce(attempt, args)),
  };
}
