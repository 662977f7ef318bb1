/**
 * What every exchange activity shares: its dependencies and their defaults, the send log, the
 * self-trade prevention mode by purpose, the order lookup by client order id, the heartbeating
 * wait, and `patiently` (how reads and cancels run: retried through anything, loudly).
 */
import type { Pool } from 'pg';
import type { BinanceSpotClient } from '../src/exchange';
import type { SelfTradePreventionMode } from '../src/exchange/client';
import { isBinanceError } from '../src/exchange/errors';
import type { AlertSink } from '../src/alerts/alerts';
import type { Logger } from '../src/logging';
import { createMemorySendLog, createPgSendLog, type SendLog } from '../src/persistence/send-log';
import type { MarkPriceCache } from '../src/portfolio/mark-prices';
import type { OrderIntent, OrderSnapshot } from '../src/shared/trade';
import { asCurrentAttempt, checkActivityTimeouts, type CurrentAttempt } from './current-attempt';
import { readFailure } from './exchange-failures';
import { toSnapshot } from './order-snapshots';
import type { PushCoverageSource } from './push-coverage-activities';

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

export interface OrderRef {
  symbol: string;
  clientOrderId: string;
}

export type ExchangeCommon = ReturnType<typeof createExchangeCommon>;

export function createExchangeCommon(deps: ExchangeActivityDeps) {
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

  return { deps, exchange, logger, settleMargin, maxSendDelay, sendLog, stpMode, lookup, outwait, patiently };
}
