/**
 * Exchange errors as Temporal failures: which are final, which are retried and after how long.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BinanceError, isBinanceError } from '../src/exchange/errors';
import { FailureType } from '../src/shared/failure-types';

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
