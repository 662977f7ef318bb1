/**
 * The send log: which order intents may have been sent, and until when the exchange could still
 * accept the last such request. It is what lets the first attempt of a submission after a
 * `temporal workflow reset`, a lost history or a crash of the worker before it could heartbeat
 * know that it is not really the first: Binance accepts a reused client order id again once the
 * first order is no longer open, so "attempt 1" must not mean "never sent".
 *
 * Senders race: an attempt Temporal gave up on may still be running when the next one starts
 * (or a reset's new run starts while the old run's attempt waits for rate budget). So a send is
 * claimed with a compare-and-set on the intent's version: a sender that read version v may log
 * its send only if the version is still v; whoever loses has been overtaken and must settle.
 * Settling an intent as absent (findOrder) bumps the version too, so a sender that read before
 * the settle can never send after it.
 */
import type { Pool } from 'pg';

/** What the log knows of an intent: its version (0 = never logged) and the send window. */
export interface SendRecord {
  version: number;
  /** Local-clock ms after which the last logged send can no longer be accepted; undefined if never sent. */
  acceptableUntilMs: number | undefined;
}

export interface SendLog {
  read(intentId: string): Promise<SendRecord>;
  /**
   * Logs a send before it goes out, if the intent is still at `seenVersion`; returns the new
   * version, or undefined when another sender (or a settle) got there first.
   */
  claimSend(intentId: string, seenVersion: number, acceptableUntilMs: number): Promise<number | undefined>;
  /**
   * Narrows the window once this sender's last send is over (to what its signed timestamp really
   * allows, or to now when the exchange said it did not execute it), only if nobody logged since.
   */
  narrow(intentId: string, ownVersion: number, acceptableUntilMs: number): Promise<void>;
  /** Settled as absent: no sender that read an earlier version may send any more. */
  fence(intentId: string): Promise<void>;
  /** The latest `acceptableUntilMs` recorded for the intent, or undefined if it was never sent. */
  lastSend(intentId: string): Promise<number | undefined>;
}

export function createPgSendLog(pool: Pool): SendLog {
  const read = async (intentId: string): Promise<SendRecord> => {
    const { rows } = await pool.query<{ sends: number; ms: string | null }>(
      'SELECT sends, (extract(epoch FROM acceptable_until) * 1000)::bigint::text AS ms FROM order_sends WHERE intent_id = $1',
      [intentId],
    );
    const row = rows[0];
    return row ? { version: row.sends, acceptableUntilMs: row.ms === null ? undefined : Number(row.ms) } : { version: 0, acceptableUntilMs: undefined };
  };
  return {
    read,
    async claimSend(intentId, seenVersion, acceptableUntilMs) {
      const { rows } =
        seenVersion === 0
          ? await pool.query<{ sends: number }>(
              `INSERT INTO order_sends (intent_id, acceptable_until) VALUES ($1, to_timestamp($2 / 1000.0))
               ON CONFLICT (intent_id) DO NOTHING RETURNING sends`,
              [intentId, acceptableUntilMs],
            )
          : await pool.query<{ sends: number }>(
              `UPDATE order_sends SET sends = sends + 1, last_sent_at = now(),
                 acceptable_until = GREATEST(acceptable_until, to_timestamp($3 / 1000.0))
               WHERE intent_id = $1 AND sends = $2 RETURNING sends`,
              [intentId, seenVersion, acceptableUntilMs],
            );
      return rows[0]?.sends;
    },
    async narrow(intentId, ownVersion, acceptableUntilMs) {
      await pool.query('UPDATE order_sends SET acceptable_until = to_timestamp($3 / 1000.0) WHERE intent_id = $1 AND sends = $2', [
        intentId,
        ownVersion,
        acceptableUntilMs,
      ]);
    },
    async fence(intentId) {
      await pool.query(
        `INSERT INTO order_sends (intent_id, acceptable_until) VALUES ($1, now())
         ON CONFLICT (intent_id) DO UPDATE SET sends = order_sends.sends + 1`,
        [intentId],
      );
    },
    async lastSend(intentId) {
      return (await read(intentId)).acceptableUntilMs;
    },
  };
}

/** For a worker without a database (unit use): the same rules for the life of the process. */
export function createMemorySendLog(): SendLog {
  const log = new Map<string, { version: number; until: number }>();
  const read = async (intentId: string): Promise<SendRecord> => {
    const e = log.get(intentId);
    return e ? { version: e.version, acceptableUntilMs: e.until } : { version: 0, acceptableUntilMs: undefined };
  };
  return {
    read,
    async claimSend(intentId, seenVersion, acceptableUntilMs) {
      const e = log.get(intentId);
      if ((e?.version ?? 0) !== seenVersion) return undefined;
      const next = { version: seenVersion + 1, until: Math.max(e?.until ?? 0, acceptableUntilMs) };
      log.set(intentId, next);
      return next.version;
    },
    async narrow(intentId, ownVersion, acceptableUntilMs) {
      const e = log.get(intentId);
      if (e && e.version === ownVersion) e.until = acceptableUntilMs;
    },
    async fence(intentId) {
      const e = log.get(intentId);
      log.set(intentId, { version: (e?.version ?? 0) + 1, until: e?.until ?? Date.now() });
    },
    async lastSend(intentId) {
      return (await read(intentId)).acceptableUntilMs;
    },
  };
}
