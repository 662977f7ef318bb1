/**
 * One activity attempt's right to send (rule 2 in exchange-activities.ts): an attempt Temporal
 * may have given up on never sends, and the settings a worker starts with must leave every
 * legitimate wait inside the activities' start-to-close timeout.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { EXCHANGE_START_TO_CLOSE_MS } from '../src/shared/activity-timeouts';
import { FailureType } from '../src/shared/failure-types';

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
export class CurrentAttempt {
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
export async function asCurrentAttempt<T>(fn: (attempt: CurrentAttempt) => Promise<T>): Promise<T> {
  const attempt = new CurrentAttempt();
  const timer = setInterval(() => attempt.beat({ phase: 'in flight' }), 2000);
  try {
    return await fn(attempt);
  } finally {
    clearInterval(timer);
  }
}

export function superseded(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: FailureType.AttemptSuperseded, nextRetryDelay: 100 });
}
