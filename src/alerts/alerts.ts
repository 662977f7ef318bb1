/**
 * Alerts: one entry on the Redis stream `alerts` (for whatever pages a human) and one log line
 * per alert. A repeat of the same alert (same dedupe key) within its cooldown is suppressed, so a
 * condition that persists for an hour does not produce an alert per trade; the cooldown lives in
 * Redis (SET NX PX), so several workers share it.
 *
 * Raising an alert must never break what raised it: failures to reach Redis are logged and
 * swallowed (the log line is written first, so the alert is never lost entirely).
 */
import type Redis from 'ioredis';
import type { Logger } from '../logging';

export const ALERTS_STREAM = 'alerts';
/** Approximate cap on the stream's length (XADD MAXLEN ~). */
const STREAM_MAXLEN = 10_000;

export type AlertSeverity = 'info' | 'warning' | 'critical';

export type AlertKind =
  | 'failure_rate'
  | 'trade_latency'
  | 'submit_latency'
  | 'reconciliation_drift'
  | 'reconciliation_failed'
  | 'external_inventory'
  /** The bridge refused decisions (expired, from the future, conflicting, unauthenticated, halted); detail.rule says which. */
  | 'decision_refused'
  /** An order request has not got through to the exchange for several attempts; the order may be live. */
  | 'exchange_unreachable'
  /** A trade's protective bracket was refused: the position it bought is not protected. */
  | 'unprotected_position';

export interface Alert {
  kind: AlertKind;
  severity: AlertSeverity;
  message: string;
  detail?: Record<string, unknown>;
  /** Alerts with the same key are suppressed within `cooldownMs` (default: kind). */
  dedupeKey?: string;
  /** Default 5 minutes; 0 = never suppressed. */
  cooldownMs?: number;
}

export interface RaisedAlert {
  raised: boolean;
  /** Stream entry id when it was written to Redis. */
  streamId?: string;
  suppressed?: boolean;
}

export interface AlertSinkOptions {
  redis: Redis;
  logger: Logger;
  stream?: string;
  defaultCooldownMs?: number;
  /** Called for every alert raised (metrics). */
  onRaised?: (alert: Alert) => void;
}

export class AlertSink {
  readonly stream: string;
  private readonly defaultCooldownMs: number;

  constructor(private readonly o: AlertSinkOptions) {
    this.stream = o.stream ?? ALERTS_STREAM;
    this.defaultCooldownMs = o.defaultCooldownMs ?? 5 * 60_000;
  }

  async raise(alert: Alert): Promise<RaisedAlert> {
    const cooldownMs = alert.cooldownMs ?? this.defaultCooldownMs;
    const key = `${this.stream}:cooldown:${alert.dedupeKey ?? alert.kind}`;
    try {
      if (cooldownMs > 0) {
        const set = await this.o.redis.set(key, '1', 'PX', cooldownMs, 'NX');
        if (set !== 'OK') {
          this.o.logger.debug({ alert: alert.kind, dedupeKey: alert.dedupeKey }, 'alert suppressed (cooldown)');
          return { raised: false, suppressed: true };
        }
      }
    } catch (err) {
      // No cooldown check possible: raise anyway (a duplicate alert beats a lost one).
      this.o.logger.warn({ err: errorMessage(err) }, 'alert cooldown check failed');
    }
    const at = new Date().toISOString();
    const logFields = { alert: alert.kind, severity: alert.severity, detail: alert.detail, at };
    if (alert.severity === 'critical') this.o.logger.error(logFields, `ALERT: ${alert.message}`);
    else this.o.logger.warn(logFields, `ALERT: ${alert.message}`);
    this.o.onRaised?.(alert);
    try {
      const id = await this.o.redis.xadd(
        this.stream,
        'MAXLEN',
        '~',
        String(STREAM_MAXLEN),
        '*',
        'kind',
        alert.kind,
        'severity',
        alert.severity,
        'message',
        alert.message,
        'detail',
        JSON.stringify(alert.detail ?? {}),
        'at',
        at,
      );
      return { raised: true, ...(id ? { streamId: id } : {}) };
    } catch (err) {
      this.o.logger.error({ err: errorMessage(err), alert: alert.kind }, 'could not write alert to Redis (logged above)');
      return { raised: true };
    }
  }
}

/** Alert entries as written by AlertSink (for tests and the operator CLI). */
export async function readAlerts(
  redis: Redis,
  stream = ALERTS_STREAM,
): Promise<Array<{ id: string; kind: string; severity: string; message: string; detail: Record<string, unknown>; at: string }>> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    let detail: Record<string, unknown> = {};
    try {
      detail = JSON.parse(f.detail ?? '{}') as Record<string, unknown>;
    } catch {
      detail = { raw: f.detail };
    }
    return { id, kind: f.kind ?? '', severity: f.severity ?? '', message: f.message ?? '', detail, at: f.at ?? '' };
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
