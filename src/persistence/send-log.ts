/**
 * The send log: which order intents may have been sent, and until when the exchange could still
 * accept the last such request. It is what lets the first attempt of a submission after a
 * `temporal workflow reset`, a lost history or a crash of the worker before it could heartbeat
 * know that it is not really the first: Binance accepts a reused client order id again once the
 * first order is no longer open, so "attempt 1" must not mean "never sent".
 */
import type { Pool } from 'pg';

export interface SendLog {
  /** Called before a request that may place the intent is sent. Must succeed before sending. */
  recordSend(intentId: string, acceptableUntilMs: number): Promise<void>;
  /**
   * Narrows the intent's window once the last send is over: to the instant its signed timestamp
   * really allows (unknown outcome), or to now when the exchange answered that it did not
   * execute it (429, a refusal). Only the last send can still be open: every earlier one was
   * settled before it was sent.
   */
  narrow(intentId: string, acceptableUntilMs: number): Promise<void>;
  /** The latest `acceptableUntilMs` recorded for the intent, or undefined if it was never sent. */
  lastSend(intentId: string): Promise<number | undefined>;
}

export function createPgSendLog(pool: Pool): SendLog {
  return {
    async recordSend(intentId, acceptableUntilMs) {
      await pool.query(
        `INSERT INTO order_sends (intent_id, acceptable_until) VALUES ($1, to_timestamp($2 / 1000.0))
         ON CONFLICT (intent_id) DO UPDATE SET sends = order_sends.sends + 1, last_sent_at = now(),
           acceptable_until = GREATEST(order_sends.acceptable_until, EXCLUDED.acceptable_until)`,
        [intentId, acceptableUntilMs],
      );
    },
    async narrow(intentId, acceptableUntilMs) {
      await pool.query('UPDATE order_sends SET acceptable_until = to_timestamp($2 / 1000.0) WHERE intent_id = $1', [intentId, acceptableUntilMs]);
    },
    async lastSend(intentId) {
      const { rows } = await pool.query<{ ms: string }>(
        'SELECT (extract(epoch FROM acceptable_until) * 1000)::bigint::text AS ms FROM order_sends WHERE intent_id = $1',
        [intentId],
      );
      return rows[0] ? Number(rows[0].ms) : undefined;
    },
  };
}

/** For a worker without a database (unit use): remembers sends for the life of the process. */
export function createMemorySendLog(): SendLog {
  const sends = new Map<string, number>();
  return {
    async recordSend(intentId, acceptableUntilMs) {
      sends.set(intentId, Math.max(sends.get(intentId) ?? 0, acceptableUntilMs));
    },
    async narrow(intentId, acceptableUntilMs) {
      if (sends.has(intentId)) sends.set(intentId, acceptableUntilMs);
    },
    async lastSend(intentId) {
      return sends.get(intentId);
    },
  };
}
