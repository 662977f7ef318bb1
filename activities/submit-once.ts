/**
 * The exactly-once rule every submission follows (rules 1 to 3 in exchange-activities.ts), and
 * the send with the worker's order update router watching its orders.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { RequestHooks } from '../src/exchange';
import { isBinanceError, isUnlistedCodeAnswer } from '../src/exchange/errors';
import { FailureType } from '../src/shared/failure-types';
import type { OrderIntent } from '../src/shared/trade';
import { asCurrentAttempt, superseded } from './current-attempt';
import type { ExchangeCommon } from './exchange-common';
import { toFailure } from './exchange-failures';

/** Binance `-2010` text for a re-used client order id of an open order. */
const DUPLICATE_ORDER = 'Duplicate order sent.';

export type Submission = ReturnType<typeof createSubmission>;

export function createSubmission(common: ExchangeCommon) {
  const { deps, logger, settleMargin, maxSendDelay, sendLog, outwait } = common;

  /**
   * The exactly-once rule every submission follows, whatever it submits (see the top of exchange-activities.ts).
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

  return { submitOnce, watchingSend };
}
