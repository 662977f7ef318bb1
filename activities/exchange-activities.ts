/**
 * Activities that talk to the exchange. The one rule they exist to keep: a retry never creates a
 * second order. Every order carries a deterministic client order id; whenever the outcome of a
 * submission is unknown, the exchange is asked about that id before anything is sent again.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { BinanceSpotClient, Order, OrderResponse } from '../src/exchange';
import type { OrderListResponse } from '../src/exchange/schemas';
import { BinanceError, isBinanceError } from '../src/exchange/errors';
import { prepareOrder as applyFilters, symbolRules } from '../src/exchange/filters';
import type { Logger } from '../src/logging';
import type { Side } from '../src/shared/decision';
import type {
  ExchangeOrderType,
  OcoIntent,
  OrderIntent,
  OrderSnapshot,
  PlaceOrderListResult,
  PlaceOrderResult,
  ReplaceOrderResult,
} from '../src/shared/trade';

export interface ExchangeActivityDeps {
  exchange: BinanceSpotClient;
  logger: Logger;
  /** The recvWindow the client signs with: after it, an in-flight request can no longer be accepted. */
  recvWindowMs: number;
  /** Wall-clock uncertainty added on top of recvWindow before an absent order is trusted to stay absent. */
  settleMarginMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PrepareOrderRequest {
  symbol: string;
  side: Side;
  type: ExchangeOrderType;
  quantity: string;
  price?: string;
  stopPrice?: string;
}

export interface PreparedOrder {
  quantity: string;
  price?: string;
  stopPrice?: string;
  notional: string;
  baseAsset: string;
  quoteAsset: string;
}

export interface OrderRef {
  symbol: string;
  clientOrderId: string;
}

/** Binance `-2010` text for a re-used client order id of an open order. */
const DUPLICATE_ORDER = 'Duplicate order sent.';

export function createExchangeActivities(deps: ExchangeActivityDeps) {
  const { exchange, logger } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const settleMargin = deps.settleMarginMs ?? 1000;

  /** Looks an order up by client order id; `undefined` only on Binance's -2013. */
  async function lookup(ref: OrderRef): Promise<OrderSnapshot | undefined> {
    try {
      return toSnapshot(await exchange.getOrder({ symbol: ref.symbol, origClientOrderId: ref.clientOrderId }));
    } catch (err) {
      if (isBinanceError(err, 'not_found')) return undefined;
      throw toFailure(err);
    }
  }

  /** Waits until a request sent at `sentAt` can no longer be accepted by the exchange. */
  async function outwaitRecvWindow(sentAt: number): Promise<void> {
    const wait = sentAt + deps.recvWindowMs + settleMargin - Date.now();
    if (wait > 0) {
      heartbeat({ phase: 'waiting out recvWindow before settling', waitMs: wait });
      await sleep(wait);
    }
  }

  /**
   * The exactly-once rule every submission follows, whatever it submits: before a retried
   * attempt, and after any unknown outcome, wait until the earlier request can no longer be
   * accepted and ask the exchange (`find`); only if it has nothing is the request sent (again).
   * A -2010 "Duplicate order sent." means the id is already an open order: it is adopted too.
   */
  async function submitOnce<T>(what: Record<string, unknown>, find: () => Promise<T | undefined>, send: () => Promise<T>): Promise<T> {
    const info = Context.current().info;
    if (info.attempt > 1) {
      await outwaitRecvWindow(info.currentAttemptScheduledTimestampMs);
      const existing = await find();
      if (existing) {
        logger.info({ ...what, attempt: info.attempt }, 'adopted what an earlier attempt submitted');
        return existing;
      }
    }
    for (let sends = 1; ; sends++) {
      const sentAt = Date.now();
      try {
        return await send();
      } catch (err) {
        if (isBinanceError(err, 'rejected') && err.code === -2010 && err.msg === DUPLICATE_ORDER) {
          const existing = await find();
          if (existing) return existing;
        }
        if (!isBinanceError(err, 'unknown_outcome') || sends >= 3) throw toFailure(err);
        logger.warn({ ...what, code: err.code, msg: err.msg }, 'submission outcome unknown; settling by query before any resend');
        await outwaitRecvWindow(sentAt);
        const existing = await find();
        if (existing) return existing;
      }
    }
  }

  function placeOrderOnce(intent: OrderIntent): Promise<PlaceOrderResult> {
    return submitOnce<PlaceOrderResult>(
      { clientOrderId: intent.clientOrderId },
      async () => {
        const order = await lookup(intent);
        return order && { order, adopted: true };
      },
      async () => {
        const resp = await exchange.newOrder({
          symbol: intent.symbol,
          side: intent.side,
          type: intent.type,
          quantity: intent.quantity,
          price: intent.price,
          stopPrice: intent.stopPrice,
          timeInForce: intent.timeInForce,
          newClientOrderId: intent.clientOrderId,
        });
        return { order: fromResponse(resp), adopted: false };
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
        throw toFailure(err);
      }
    };
    return submitOnce<PlaceOrderListResult>({ listClientOrderId: oco.listClientOrderId }, findList, async () => {
      const resp = await exchange.newOco({
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
      });
      return { orderListId: resp.orderListId, ...legsOf(resp, oco), adopted: false };
    });
  }

  async function replaceOrderOnce(args: { old: OrderRef; replacement: OrderIntent }): Promise<ReplaceOrderResult> {
    const info = Context.current().info;
    const settle = async (): Promise<ReplaceOrderResult | undefined> => {
      const replacement = (await lookup(args.replacement)) ?? null;
      const old = await lookup(args.old);
      if (!old) throw ApplicationFailure.nonRetryable(`order ${args.old.clientOrderId} to amend does not exist`, 'OrderNotFound');
      if (replacement || old.status !== 'NEW') return { old, replacement };
      return undefined;
    };
    if (info.attempt > 1) {
      await outwaitRecvWindow(info.currentAttemptScheduledTimestampMs);
      const settled = await settle();
      if (settled) return settled;
    }
    const r = args.replacement;
    const sentAt = Date.now();
    try {
      const res = await exchange.cancelReplace({
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
      });
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
      await outwaitRecvWindow(sentAt);
      const settled = await settle();
      if (settled) return settled;
      throw toFailure(err);
    }
  }

  return {
    /** Symbol rules from the (cached) exchangeInfo, quantity down to the lot step, price to the tick. */
    async prepareOrder(req: PrepareOrderRequest): Promise<PreparedOrder> {
      let rules;
      try {
        rules = symbolRules(await exchange.cachedExchangeInfo(), req.symbol);
      } catch (err) {
        if (err instanceof BinanceError) throw toFailure(err);
        throw ApplicationFailure.nonRetryable(
          `symbol: ${err instanceof Error ? err.message : String(err)}`,
          'OrderRejected',
        );
      }
      const market = req.price ?? (await exchange.tickerPrice(req.symbol).catch((e) => Promise.reject(toFailure(e)))).price;
      const result = applyFilters(rules, {
        side: req.side,
        type: req.type,
        quantity: req.quantity,
        price: req.price,
        stopPrice: req.stopPrice,
        marketPrice: market,
      });
      if (!result.ok) {
        throw ApplicationFailure.create({
          message: `${result.filter}: ${result.reason}`,
          type: 'OrderRejected',
          nonRetryable: true,
          details: [{ filter: result.filter, reason: result.reason }],
        });
      }
      return {
        quantity: result.quantity,
        price: result.price,
        stopPrice: result.stopPrice,
        notional: result.notional,
        baseAsset: rules.baseAsset,
        quoteAsset: rules.quoteAsset,
      };
    },

    /**
     * Submits an order exactly once, whatever happens on the wire.
     *
     * - On a retry (attempt > 1) an earlier attempt may have placed the order, so we first wait
     *   until that attempt's request is past its recvWindow (it cannot be accepted any more) and
     *   ask the exchange: found → adopt it, -2013 → safe to send.
     * - On an unknown outcome in this attempt we do the same before sending again.
     * - A -2010 "Duplicate order sent." means the id is already an open order: adopt it.
     */
    placeOrder: (intent: OrderIntent): Promise<PlaceOrderResult> => keepAlive(() => placeOrderOnce(intent)),

    /** The order's current state; -2013 here is an error (the order was placed), not "absent". */
    async queryOrder(ref: OrderRef): Promise<OrderSnapshot> {
      const snap = await lookup(ref);
      if (!snap) {
        throw ApplicationFailure.retryable(`order ${ref.clientOrderId} on ${ref.symbol} does not exist on the exchange`, 'OrderNotFound');
      }
      return snap;
    },

    /** Settles an order whose submission was never confirmed: the snapshot, or null if it does not exist. */
    async findOrder(ref: OrderRef): Promise<OrderSnapshot | null> {
      const info = Context.current().info;
      // The last submission attempt ended before this activity was scheduled.
      await outwaitRecvWindow(info.scheduledTimestampMs);
      return (await lookup(ref)) ?? null;
    },

    /**
     * Places an OCO order list exactly once: the same settle-before-resend rule as placeOrder,
     * keyed by the list's client id.
     */
    placeOrderList: (oco: OcoIntent): Promise<PlaceOrderListResult> => keepAlive(() => placeOrderListOnce(oco)),

    /** Cancels an order list (both legs); a list that is already done is read back instead. */
    async cancelOrderList(args: { symbol: string; listClientOrderId: string; legs: OrderRef[] }): Promise<OrderSnapshot[]> {
      try {
        await exchange.cancelOrderList({ symbol: args.symbol, listClientOrderId: args.listClientOrderId });
      } catch (err) {
        if (!isBinanceError(err, 'not_found') && !(isBinanceError(err, 'rejected') && err.code === -2011)) throw toFailure(err);
      }
      const legs = await Promise.all(args.legs.map((l) => lookup(l)));
      return legs.filter((l): l is OrderSnapshot => l !== undefined);
    },

    /**
     * Amends a resting order by cancel-replace (Binance keeps no queue priority for a price
     * change). STOP_ON_FAILURE: if the old order can no longer be cancelled (it filled), no
     * replacement is placed. An unknown outcome is settled by looking up both ids.
     */
    replaceOrder: (args: { old: OrderRef; replacement: OrderIntent }): Promise<ReplaceOrderResult> =>
      keepAlive(() => replaceOrderOnce(args)),

    /**
     * Cancels the rest of an order. If the order is already final (filled while we were asking)
     * Binance answers -2011; the order's real final state is then read back, so a fill that
     * raced the cancel is never lost.
     */
    async cancelOrder(ref: OrderRef): Promise<OrderSnapshot> {
      try {
        const resp = await exchange.cancelOrder({ symbol: ref.symbol, origClientOrderId: ref.clientOrderId });
        return { ...toSnapshot(resp), clientOrderId: ref.clientOrderId };
      } catch (err) {
        if (isBinanceError(err, 'not_found') || (isBinanceError(err, 'rejected') && err.code === -2011)) {
          const snap = await lookup(ref);
          if (snap) return snap;
        }
        throw toFailure(err);
      }
    },
  };
}

function legsOf(resp: OrderListResponse, oco: OcoIntent): { above: OrderSnapshot; below: OrderSnapshot } {
  const find = (cid: string) => {
    const r = resp.orderReports.find((o) => o.clientOrderId === cid);
    if (!r) throw ApplicationFailure.retryable(`order list response has no report for ${cid}`, 'ExchangeUnknownOutcome');
    return fromResponse({ ...r, fills: r.fills ?? [] });
  };
  return { above: find(oco.above.clientOrderId), below: find(oco.below.clientOrderId) };
}

/**
 * Runs a submission while heartbeating every 2 s. A live attempt (waiting on the rate budget or
 * a slow exchange) is then never declared dead and retried in parallel, which could race its
 * own still-running request; a dead worker stops heartbeating and is noticed quickly.
 */
async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat({ phase: 'in flight' }), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // outside an activity context (unit use): nothing to report to
  }
}

export function toSnapshot(o: Order): OrderSnapshot {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    clientOrderId: o.origClientOrderId ?? o.clientOrderId,
    orderListId: o.orderListId,
    status: o.status,
    type: o.type,
    side: o.side,
    price: o.price,
    stopPrice: o.stopPrice,
    origQty: o.origQty,
    executedQty: o.executedQty,
    cummulativeQuoteQty: o.cummulativeQuoteQty,
    updateTime: o.updateTime ?? o.transactTime ?? o.time,
  };
}

function fromResponse(r: OrderResponse): OrderSnapshot {
  return {
    symbol: r.symbol,
    orderId: r.orderId,
    clientOrderId: r.clientOrderId,
    orderListId: r.orderListId,
    status: r.status,
    type: r.type,
    side: r.side,
    price: r.price,
    stopPrice: r.stopPrice,
    origQty: r.origQty,
    executedQty: r.executedQty,
    cummulativeQuoteQty: r.cummulativeQuoteQty,
    updateTime: r.transactTime,
  };
}

/**
 * Maps exchange errors onto Temporal failures: rejections and bans are final for this attempt
 * chain (non-retryable types), "retry later" carries the exchange's Retry-After as the next
 * retry delay, unknown outcomes are retryable (the next attempt settles by query first).
 */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (!(err instanceof BinanceError)) {
    return ApplicationFailure.retryable(err instanceof Error ? err.message : String(err), 'ExchangeError');
  }
  const details = [{ httpStatus: err.httpStatus ?? null, code: err.code ?? null, msg: err.msg, endpoint: err.endpoint }];
  switch (err.kind) {
    case 'rejected':
      return ApplicationFailure.create({ message: err.message, type: 'ExchangeRejected', nonRetryable: true, details });
    case 'banned':
      return ApplicationFailure.create({
        message: err.message,
        type: 'ExchangeBanned',
        details,
        nextRetryDelay: err.retryAfterMs ?? 60_000,
      });
    case 'retry_later':
      return ApplicationFailure.create({
        message: err.message,
        type: 'ExchangeRetryLater',
        details,
        nextRetryDelay: err.retryAfterMs,
      });
    case 'not_found':
      return ApplicationFailure.create({ message: err.message, type: 'OrderNotFound', details });
    case 'unknown_outcome':
      return ApplicationFailure.create({ message: err.message, type: 'ExchangeUnknownOutcome', details });
  }
}
