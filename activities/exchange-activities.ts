/**
 * Activities that talk to the exchange. The rules they exist to keep:
 *
 * 1. A retry never creates a second order. Every order carries a deterministic client order id;
 *    before any request that may place an intent is sent, it is written to the send log with the
 *    instant after which the exchange can no longer accept it (the recvWindow rule). Whenever an
 *    intent may have been sent before (an earlier attempt, an earlier run, a run since a reset)
 *    or a send's outcome is unknown, we wait until that instant has passed and ask the exchange
 *    about the id before anything is sent again.
 * 2. An attempt that may no longer be the current one never sends: right before the bytes go out
 *    it checks that it was not cancelled, that its start-to-close deadline is not near, and that
 *    it has been heartbeating; otherwise it fails as AttemptSuperseded and the next attempt settles.
 * 3. A refusal by the exchange is the order's fate only when no earlier send of the intent can
 *    have landed. After an unknown outcome it is just another unknown.
 * 4. Reads and cancels retry through anything (an outage, a key answering -2015): a trade must
 *    never end while one of its orders may still be live.
 *
 * The assumption under all of it: Binance refuses a signed request once its `timestamp` is more
 * than `recvWindow` old (checked on arrival and again just before matching), and refuses one more
 * than 1 s ahead of its clock; the settle margin covers that second and the clocks of our workers.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { BinanceSpotClient, Order, OrderResponse, RequestHooks } from '../src/exchange';
import { amendedOrderAsOrder, type OrderListResponse } from '../src/exchange/schemas';
import { BinanceError, isBinanceError, isUnlistedCodeAnswer } from '../src/exchange/errors';
import type { SelfTradePreventionMode } from '../src/exchange/client';
import { prepareOrder as applyFilters, symbolRules } from '../src/exchange/filters';
import type { AlertSink } from '../src/alerts/alerts';
import type { Logger } from '../src/logging';
import { createMemorySendLog, createPgSendLog, type SendLog } from '../src/persistence/send-log';
import type { PushCoverageSource } from './push-coverage-activities';
import type { MarkPriceCache } from '../src/portfolio/mark-prices';
import type { Side } from '../src/shared/decision';
import { dec, toWire } from '../src/shared/decimal';
import { EXCHANGE_START_TO_CLOSE_MS } from '../src/shared/activity-timeouts';
import { FailureType } from '../src/shared/failure-types';
import { isFinalExchangeStatus } from '../src/shared/order-state';
import type {
  ExchangeOrderType,
  FillRecord,
  OcoIntent,
  OrderIntent,
  OrderSnapshot,
  PlaceOrderListResult,
  PlaceProtectedEntryResult,
  ProtectedEntryIntent,
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
  /** Where sends are logged before they go out; default the `order_sends` table when `pool` is given. */
  sendLog?: SendLog;
  pool?: Pool;
  /** The longest a submission lets itself wait (send slot, rate budget) between logging a send and sending it; default 15 s. */
  maxSendDelayMs?: number;
  /** Whole-request timeout of the client, for the start-up check of activity timeouts; default 10 s. */
  requestTimeoutMs?: number;
  /** The worker's mark cache: prepareOrder's market price, fed by our own fills; without it the ticker is asked every time. */
  marks?: MarkPriceCache;
  /** Where `exchange_unreachable` is raised when an order request keeps failing. */
  alerts?: AlertSink;
  /** The worker's order update router: told of each order before it is sent, so its first events are pushed. */
  orderUpdates?: Pick<PushCoverageSource, 'watchSent' | 'sendFinished'>;
  /**
   * selfTradePreventionMode sent with every new order and order list (EXCHANGE_STP_MODE);
   * undefined leaves it to the symbol's defaultSelfTradePreventionMode.
   */
  selfTradePreventionMode?: SelfTradePreventionMode;
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
  /**
   * Which order lists the symbol takes, from exchangeInfo (ocoAllowed, otoAllowed, opoAllowed).
   * Absent in histories recorded before they were reported: read as none allowed.
   */
  lists?: { oco: boolean; oto: boolean; opo: boolean };
}

export interface OrderRef {
  symbol: string;
  clientOrderId: string;
}

export interface AmendQuantityRequest extends OrderRef {
  /** The order's new total quantity (executed included), lower than today's. */
  newQty: string;
}

/** Binance `-2010` text for a re-used client order id of an open order. */
const DUPLICATE_ORDER = 'Duplicate order sent.';

/** How close to its deadline an attempt stops sending (clock skew between worker and server, scheduling). */
const DEADLINE_GUARD_MS = 10_000;

/**
 * The longest legitimate life of one attempt: its longest wait before sending, the recvWindow
 * wait of a settle, and three sends (the first plus two resends after unknown outcomes), each
 * up to the request timeout, plus the lookups after them.
 */
export function longestSubmissionMs(o: { recvWindowMs: number; settleMarginMs: number; maxSendDelayMs: number; requestTimeoutMs: number }): number {
  return o.maxSendDelayMs + o.recvWindowMs + o.settleMarginMs + 3 * o.requestTimeoutMs + DEADLINE_GUARD_MS;
}

/**
 * A worker refuses to start with settings under which a legitimate wait could outlast the
 * start-to-close the workflows give exchange activities: an attempt would then be timed out
 * while it can still send.
 */
export function checkActivityTimeouts(o: { recvWindowMs: number; settleMarginMs: number; maxSendDelayMs: number; requestTimeoutMs: number }): void {
  const need = longestSubmissionMs(o);
  if (need > EXCHANGE_START_TO_CLOSE_MS) {
    throw new Error(
      `exchange timeouts do not fit: recvWindow ${o.recvWindowMs} ms + settle margin ${o.settleMarginMs} ms + send delay ${o.maxSendDelayMs} ms` +
        ` + 3 × request timeout ${o.requestTimeoutMs} ms + guard ${DEADLINE_GUARD_MS} ms = ${need} ms, more than the activities' start-to-close` +
        ` timeout of ${EXCHANGE_START_TO_CLOSE_MS} ms; lower BINANCE_RECV_WINDOW or the request timeout`,
    );
  }
}

/**
 * What this attempt may still do. An attempt Temporal has given up on (timed out, cancelled,
 * or silent past its heartbeat timeout) may still be running here; it must never send.
 */
class CurrentAttempt {
  private lastBeat = Date.now();
  private readonly ctx: Context | undefined;

  constructor() {
    try {
      this.ctx = Context.current();
    } catch {
      this.ctx = undefined; // outside an activity (unit use): nothing can supersede us
    }
  }

  get attempt(): number {
    return this.ctx?.info.attempt ?? 1;
  }

  /** When this attempt was scheduled (local clock); an earlier attempt ended before it. */
  get scheduledAt(): number {
    return this.ctx?.info.currentAttemptScheduledTimestampMs ?? Date.now();
  }

  /** The latest this attempt may send: a guard before the server's start-to-close deadline. */
  get sendDeadline(): number {
    if (!this.ctx) return Number.POSITIVE_INFINITY;
    const { currentAttemptScheduledTimestampMs, startToCloseTimeoutMs } = this.ctx.info;
    // Scheduled ≤ started, so this is earlier than the server's deadline, never later.
    return currentAttemptScheduledTimestampMs + startToCloseTimeoutMs - DEADLINE_GUARD_MS;
  }

  beat(details: unknown): void {
    this.lastBeat = Date.now();
    try {
      this.ctx?.heartbeat(details);
    } catch {
      // the context is gone (attempt finished): nothing to report to
    }
  }

  /** Throws AttemptSuperseded unless this attempt is still the one Temporal waits for. */
  assertCurrent(what: string): void {
    if (!this.ctx) return;
    const signal = this.ctx.cancellationSignal;
    if (signal.aborted) throw superseded(`${what}: attempt ${this.attempt} was cancelled (${String(signal.reason ?? 'cancelled')}); not sending`);
    const now = Date.now();
    if (now > this.sendDeadline) throw superseded(`${what}: attempt ${this.attempt} is within ${DEADLINE_GUARD_MS} ms of its timeout; not sending`);
    const hb = this.ctx.info.heartbeatTimeoutMs;
    // A stall (event loop, GC, suspended VM) longer than half the heartbeat timeout may have made
    // the server give up on this attempt and schedule the next one, which may be sending now.
    if (hb && now - this.lastBeat > hb / 2) throw superseded(`${what}: attempt ${this.attempt} has not heartbeaten for ${now - this.lastBeat} ms; not sending`);
  }
}

/**
 * Runs one attempt's work with a CurrentAttempt that heartbeats every 2 s throughout (the client
 * may wait for a send slot or rate budget): a live attempt is never declared dead and retried
 * in parallel, and a dead worker stops heartbeating and is noticed quickly.
 */
async function asCurrentAttempt<T>(fn: (attempt: CurrentAttempt) => Promise<T>): Promise<T> {
  const attempt = new CurrentAttempt();
  const timer = setInterval(() => attempt.beat({ phase: 'in flight' }), 2000);
  try {
    return await fn(attempt);
  } finally {
    clearInterval(timer);
  }
}

function superseded(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: FailureType.AttemptSuperseded, nextRetryDelay: 100 });
}

export function createExchangeActivities(deps: ExchangeActivityDeps) {
  const { exchange, logger } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const settleMargin = deps.settleMarginMs ?? 1000;
  const maxSendDelay = deps.maxSendDelayMs ?? 15_000;
  checkActivityTimeouts({ recvWindowMs: deps.recvWindowMs, settleMarginMs: settleMargin, maxSendDelayMs: maxSendDelay, requestTimeoutMs: deps.requestTimeoutMs ?? 10_000 });
  const sendLog = deps.sendLog ?? (deps.pool ? createPgSendLog(deps.pool) : createMemorySendLog());
  /**
   * The configured mode is for what opens a position. A protective or closing order (a bracket,
   * a close-now, a protected entry's list) must trade when it is the taker: under EXPIRE_TAKER a
   * triggered stop reaching one of our own resting orders would expire and leave the position
   * without its exit. Those go as EXPIRE_MAKER (our other order expires, and its trade says
   * why), unless self-trades are allowed outright (NONE).
   */
  const stpMode = (purpose?: OrderIntent['purpose']): { selfTradePreventionMode?: SelfTradePreventionMode } => {
    const configured = deps.selfTradePreventionMode;
    if (!configured) return {};
    const exits = purpose === 'bracket' || purpose === 'close';
    return { selfTradePreventionMode: exits && configured !== 'NONE' ? 'EXPIRE_MAKER' : configured };
  };

  /** Looks an order up by client order id; `undefined` only on Binance's -2013. */
  async function lookup(ref: OrderRef): Promise<OrderSnapshot | undefined> {
    try {
      return toSnapshot(await exchange.getOrder({ symbol: ref.symbol, origClientOrderId: ref.clientOrderId }));
    } catch (err) {
      if (isBinanceError(err, 'not_found')) return undefined;
      throw readFailure(err);
    }
  }

  /** Waits (heartbeating) until the local clock is past `until`. */
  async function outwait(attempt: CurrentAttempt, until: number, why: string): Promise<void> {
    for (let left = until - Date.now(); left > 0; left = until - Date.now()) {
      attempt.beat({ phase: why, waitMs: left });
      await sleep(Math.min(left, 2000));
    }
  }

  /**
   * The exactly-once rule every submission follows, whatever it submits (see the top of this file).
   * `find` settles: the intent as the exchange has it, or undefined when it does not exist.
   */
  async function submitOnce<T>(
    intentId: string,
    what: Record<string, unknown>,
    find: () => Promise<T | undefined>,
    send: (hooks: RequestHooks) => Promise<T>,
  ): Promise<T> {
    return asCurrentAttempt(async (attempt) => {
      let seen = await sendLog.read(intentId);
      // Before this release nothing was logged; an attempt > 1 then still means "maybe sent".
      const earlier = attempt.attempt > 1 ? attempt.scheduledAt + deps.recvWindowMs + settleMargin : undefined;
      let mayHaveLanded = seen.version > 0 || earlier !== undefined;
      if (mayHaveLanded) {
        await outwait(attempt, Math.max(seen.acceptableUntilMs ?? 0, earlier ?? 0), 'waiting out an earlier send before settling');
        const existing = await find();
        if (existing) {
          logger.info({ ...what, attempt: attempt.attempt }, 'adopted what an earlier send placed');
          return existing;
        }
        // Absent at this version: a sender that logs meanwhile makes our claim below fail.
      }
      for (let sends = 1; ; sends++) {
        const sendBy = Math.min(Date.now() + maxSendDelay, attempt.sendDeadline);
        let acceptableUntil = sendBy + deps.recvWindowMs + settleMargin;
        attempt.assertCurrent(String(what.clientOrderId ?? what.listClientOrderId ?? intentId));
        const version = await sendLog.claimSend(intentId, seen.version, acceptableUntil);
        if (version === undefined) {
          // Another sender (an attempt Temporal gave up on, the old run after a reset) or a
          // settle logged since we looked: it may be sending now. Let the next attempt settle.
          throw superseded(`${intentId}: another sender logged this intent since attempt ${attempt.attempt} looked; not sending`);
        }
        seen = { version, acceptableUntilMs: acceptableUntil };
        try {
          return await send({
            beforeSend: () => {
              attempt.assertCurrent(intentId);
              if (Date.now() > sendBy) throw superseded(`${intentId}: waited past the logged send window; not sending`);
            },
            onSent: (sent) => {
              acceptableUntil = sent.acceptableUntilLocalMs + settleMargin;
            },
          });
        } catch (err) {
          if (err instanceof ApplicationFailure && err.type === FailureType.AttemptSuperseded) {
            // Refused in beforeSend: these bytes never left, so the next attempt need not wait.
            await sendLog.narrow(intentId, version, Date.now());
            throw err;
          }
          // What the exchange answered bounds what the send can still do: nothing, when it said
          // it did not execute it; until its signed timestamp's recvWindow ends, when unknown.
          if (isBinanceError(err, 'unknown_outcome')) await sendLog.narrow(intentId, version, acceptableUntil);
          else if (isBinanceError(err)) await sendLog.narrow(intentId, version, Date.now());
          if (isBinanceError(err, 'rejected') && err.code === -2010 && err.msg === DUPLICATE_ORDER) {
            const existing = await find();
            if (existing) return existing;
            // The id IS an open order on the exchange; not seeing it yet is no refusal.
            throw ApplicationFailure.create({ message: `${intentId}: duplicate order, not visible yet`, type: FailureType.ExchangeUnknownOutcome });
          }
          if (isBinanceError(err, 'rejected')) {
            // A refusal decides the intent's fate only if nothing sent before can have landed.
            if (!mayHaveLanded) throw toFailure(err);
            // The refused request itself placed nothing; one more look catches an earlier send
            // that the exchange only now shows.
            const existing = await find();
            if (existing) return existing;
            throw toFailure(err);
          }
          if (!isBinanceError(err, 'unknown_outcome')) throw toFailure(err);
          mayHaveLanded = true;
          logger.warn({ ...what, code: err.code, msg: err.msg }, 'submission outcome unknown; settling by query before any resend');
          await outwait(attempt, acceptableUntil, 'waiting out recvWindow before settling');
          const existing = await find();
          if (existing) return existing;
          // A code Binance added after our table: it answered, and nothing landed. Resending the
          // same request would get the same answer; it is a refusal, with Binance's words kept.
          if (isUnlistedCodeAnswer(err)) {
            throw ApplicationFailure.create({
              message: `${err.message} (a code this service does not know; the order is absent after its recvWindow, so it was refused)`,
              type: 'ExchangeRejected',
              nonRetryable: true,
              details: [{ httpStatus: err.httpStatus ?? null, code: err.code ?? null, msg: err.msg, endpoint: err.endpoint }],
            });
          }
          if (sends >= 3) throw toFailure(err);
        }
      }
    });
  }

  /**
   * Runs a send with the worker's router watching its orders: their events are held while the
   * request is out and dropped when the response already says as much (a MARKET order's FILLED
   * event would otherwise wake the workflow for nothing).
   */
  async function watchingSend<T>(intents: OrderIntent[], send: () => Promise<T>, viewOf?: (result: T) => { status: string; executedQty: string }): Promise<T> {
    const router = deps.orderUpdates;
    const workflowId = Context.current().info.workflowExecution?.workflowId;
    if (!router || !workflowId) return send();
    for (const intent of intents) router.watchSent({ clientOrderId: intent.clientOrderId, symbol: intent.symbol, workflowId });
    let result: T | undefined;
    try {
      result = await send();
      return result;
    } finally {
      const view = result !== undefined && viewOf ? viewOf(result) : undefined;
      for (const intent of intents) router.sendFinished({ clientOrderId: intent.clientOrderId, ...(view ? { view } : {}) });
    }
  }

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
      // MARKET: the worker's one mark cache (≤ 2 s old, one ticker request for concurrent callers).
      let market: string;
      try {
        market = req.price ?? (deps.marks ? await deps.marks.forTrading(req.symbol) : (await exchange.tickerPrice(req.symbol)).price);
      } catch (err) {
        throw toFailure(err);
      }
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
        lists: { oco: rules.ocoAllowed, oto: rules.otoAllowed, opo: rules.opoAllowed },
      };
    },

    /**
     * Submits an order exactly once, whatever happens on the wire (the rules at the top of this
     * file): a send that may have happened before is settled by query first; an unknown outcome
     * is settled before any resend; -2010 "Duplicate order sent." adopts the open order.
     */
    placeOrder: (intent: OrderIntent): Promise<PlaceOrderResult> => placeOrderOnce(intent),

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

    /**
     * Places an OCO order list exactly once: the same settle-before-resend rule as placeOrder,
     * keyed by the list's client id.
     */
    placeOrderList: (oco: OcoIntent): Promise<PlaceOrderListResult> => placeOrderListOnce(oco),

    /** Places an entry with its protective OCO as one OTOCO/OPOCO list (see placeProtectedEntryOnce). */
    placeProtectedEntry: (entry: ProtectedEntryIntent): Promise<PlaceProtectedEntryResult> => placeProtectedEntryOnce(entry),

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
     * Amends a resting order by cancel-replace (kept for executions that began before the
     * cancel-then-place amend; see workflows/legacy). STOP_ON_FAILURE: if the old order can no
     * longer be cancelled (it filled), no replacement is placed.
     */
    replaceOrder: (args: { old: OrderRef; replacement: OrderIntent }): Promise<ReplaceOrderResult> =>
      asCurrentAttempt((attempt) => replaceOrderOnce(attempt, args)),

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

  /**
   * Runs a read or a cancel: heartbeating throughout (the client may wait for rate budget), and
   * saying loudly when the exchange has not let it through for a while. Temporal retries it
   * without an attempt limit; each failure after the third is logged as an error with the order.
   */
  function patiently<T>(activity: string, ref: OrderRef, fn: (attempt: CurrentAttempt) => Promise<T>): Promise<T> {
    return asCurrentAttempt(async (attempt) => {
      try {
        return await fn(attempt);
      } catch (err) {
        if (attempt.attempt >= 3) {
          const why = err instanceof Error ? err.message : String(err);
          logger.error(
            { activity, symbol: ref.symbol, clientOrderId: ref.clientOrderId, attempt: attempt.attempt, err: why },
            'exchange has not answered this order request for several attempts; the trade waits and keeps trying (the order may be live)',
          );
          // One alert a minute for all of them: an outage fails every order at once.
          await deps.alerts?.raise({
            kind: 'exchange_unreachable',
            severity: 'critical',
            message: `the exchange has not answered ${activity} for ${ref.clientOrderId} (${ref.symbol}) for ${attempt.attempt} attempts: ${why}; trades keep trying, orders may be live`,
            detail: { activity, symbol: ref.symbol, clientOrderId: ref.clientOrderId, attempt: attempt.attempt },
            dedupeKey: 'exchange_unreachable',
            cooldownMs: 60_000,
          });
        }
        throw err;
      }
    });
  }
}

function legsOf(resp: OrderListResponse, oco: OcoIntent): { above: OrderSnapshot; below: OrderSnapshot } {
  const find = (cid: string) => {
    const r = resp.orderReports.find((o) => o.clientOrderId === cid);
    if (!r) throw ApplicationFailure.retryable(`order list response has no report for ${cid}`, 'ExchangeUnknownOutcome');
    return fromResponse({ ...r, fills: r.fills ?? [] });
  };
  return { above: find(oco.above.clientOrderId), below: find(oco.below.clientOrderId) };
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
    ...(o.expiryReason !== undefined ? { expiryReason: o.expiryReason } : {}),
  };
}

/**
 * Above this many fills the response's fills are not carried into the workflow's history (a
 * sweep through a thin book); settleFills then reads them with myTrades, as it always could.
 */
export const MAX_CARRIED_FILLS = 50;

/**
 * The fills a FULL new-order response lists, as settleFills books them: the trades executed when
 * the order arrived, so taker fills (isMaker false) at the response's transactTime; quoteQty is
 * price × qty exactly (what the books compute when myTrades leaves it out). Undefined when there
 * are none or more than MAX_CARRIED_FILLS.
 */
export function responseFills(r: OrderResponse, clientOrderId: string): FillRecord[] | undefined {
  if (r.fills.length === 0 || r.fills.length > MAX_CARRIED_FILLS) return undefined;
  return r.fills.map((f) => ({
    tradeId: f.tradeId,
    orderId: r.orderId,
    clientOrderId,
    symbol: r.symbol,
    side: r.side,
    price: f.price,
    qty: f.qty,
    quoteQty: toWire(dec(f.price).mul(f.qty)),
    commission: f.commission,
    commissionAsset: f.commissionAsset,
    isMaker: false,
    time: r.transactTime,
  }));
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
    ...(r.expiryReason !== undefined ? { expiryReason: r.expiryReason } : {}),
  };
}

/**
 * Maps exchange errors onto Temporal failures: rejections and bans are final for this attempt
 * chain (non-retryable types), "retry later" carries the exchange's Retry-After as the next
 * retry delay, unknown outcomes are retryable (the next attempt settles by query first).
 */
const MIN_RETRY_DELAY_MS = 100;

/**
 * For reads and cancels: a refusal (a key answering -2015 during a rotation, a proxy's 400) is
 * retried like any other failure, because giving up could leave a live order unfollowed.
 */
export function readFailure(err: unknown): ApplicationFailure {
  if (isBinanceError(err, 'rejected')) {
    const f = toFailure(err);
    return ApplicationFailure.create({ message: `refused (retrying): ${f.message}`, type: FailureType.ExchangeError, details: f.details ? [...f.details] : undefined });
  }
  return toFailure(err);
}

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
        nextRetryDelay: Math.max(MIN_RETRY_DELAY_MS, err.retryAfterMs ?? 60_000),
      });
    case 'retry_later':
      return ApplicationFailure.create({
        message: err.message,
        type: 'ExchangeRetryLater',
        details,
        // Never 0: a zero next-retry delay ends the retries on some servers (seen on the dev
        // server as RETRY_STATE_TIMEOUT after attempt 1); absent, the retry policy's backoff applies.
        nextRetryDelay: err.retryAfterMs === undefined ? undefined : Math.max(MIN_RETRY_DELAY_MS, err.retryAfterMs),
      });
    case 'not_found':
      return ApplicationFailure.create({ message: err.message, type: 'OrderNotFound', details });
    case 'unknown_outcome':
      return ApplicationFailure.create({ message: err.message, type: 'ExchangeUnknownOutcome', details });
  }
}
