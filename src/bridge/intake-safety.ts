/**
 * The checks a decision passes before it may execute, beyond its schema (issue 16): who sent it
 * (an HMAC signature, when a key is configured), how old it is, and whether its id was already
 * used for other content. Pure functions; the bridge applies them and dead-letters what they refuse.
 *
 * Refusal rules (the `refused_rule` of its `decisions` row and the `dead_rule` of its dead-letter
 * entry; the reason starts with the rule's name):
 *  - unauthenticated: DECISION_SIGNING_KEY is set and the entry has no `sig`, several, or a wrong one;
 *  - expired: older than DECISION_MAX_AGE_MS (MARKET) / DECISION_MAX_AGE_RESTING_MS (others);
 *  - future: its timestamp is more than DECISION_CLOCK_SKEW_MS ahead of this host's clock;
 *  - conflict: its decision id was already received with other content;
 *  - halted: trading is halted (`trade-exec halt`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config';
import { canonicalDecisionText, type RiskDecision } from '../shared/decision';

export const REFUSAL_RULES = ['unauthenticated', 'expired', 'future', 'conflict', 'halted'] as const;
export type RefusalRule = (typeof REFUSAL_RULES)[number];

export interface Refusal {
  rule: RefusalRule;
  /** `<rule>: what and why`, naming the setting that decided. */
  reason: string;
}

export interface IntakeSafetyOptions {
  /** Oldest a MARKET decision may be when its workflow is started; 0 = no limit (default 60 s). */
  maxAgeMs?: number;
  /** The same for resting orders (LIMIT, stop-limit, OCO); 0 = no limit (default 5 min). */
  maxAgeRestingMs?: number;
  /** How far a decision's timestamp may be ahead of this host's clock (default 5 s). */
  clockSkewMs?: number;
  /** HMAC-SHA256 key: when set, only entries whose `sig` field signs their `data` are executed. */
  signingKey?: string;
}

export const INTAKE_DEFAULTS = { maxAgeMs: 60_000, maxAgeRestingMs: 300_000, clockSkewMs: 5_000 } as const;

/** The stream entry field that carries the signature (hex HMAC-SHA256 of the `data` value's bytes). */
export const SIGNATURE_FIELD = 'sig';

export function intakeSafetyFromConfig(c: Pick<Config, 'DECISION_MAX_AGE_MS' | 'DECISION_MAX_AGE_RESTING_MS' | 'DECISION_CLOCK_SKEW_MS' | 'DECISION_SIGNING_KEY'>): IntakeSafetyOptions {
  return {
    maxAgeMs: c.DECISION_MAX_AGE_MS,
    maxAgeRestingMs: c.DECISION_MAX_AGE_RESTING_MS,
    clockSkewMs: c.DECISION_CLOCK_SKEW_MS,
    ...(c.DECISION_SIGNING_KEY ? { signingKey: c.DECISION_SIGNING_KEY } : {}),
  };
}

/** sha-256 (hex) of the canonical decision: equal for entries that parse to the same decision. */
export function contentHashOf(decision: RiskDecision): string {
  return createHash('sha256').update(canonicalDecisionText(decision), 'utf8').digest('hex');
}

/** The signature `trade-exec send` (and any publisher) puts in the `sig` field. */
export function signDecisionData(data: string | Buffer, key: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/**
 * Checks the `sig` field of an entry against its `data` bytes, exactly as XADDed (whitespace and
 * key order included: the publisher signs what it sends). Undefined when authentic.
 */
export function checkSignature(fields: Buffer[], key: string): Refusal | undefined {
  let data: Buffer | undefined;
  const sigs: Buffer[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('latin1');
    if (name === 'data') data = fields[i + 1];
    else if (name === SIGNATURE_FIELD) sigs.push(fields[i + 1]!);
  }
  const refuse = (why: string): Refusal => ({ rule: 'unauthenticated', reason: `unauthenticated: ${why} (DECISION_SIGNING_KEY is set); not executed` });
  if (sigs.length === 0) return refuse(`the entry has no ${SIGNATURE_FIELD} field`);
  if (sigs.length > 1) return refuse(`the entry has ${sigs.length} ${SIGNATURE_FIELD} fields`);
  const given = sigs[0]!.toString('latin1').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(given)) return refuse(`${SIGNATURE_FIELD} is not 64 hex digits (HMAC-SHA256 of the data field)`);
  if (data === undefined) return refuse('the entry has no data field to verify');
  const expected = createHmac('sha256', key).update(data).digest();
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) return refuse(`${SIGNATURE_FIELD} does not match the data field (wrong key, or data changed after signing)`);
  return undefined;
}

/** Refuses a decision that is too old, or too far ahead of this host's clock, to execute now. */
export function checkAge(decision: Pick<RiskDecision, 'timestamp'> & { order_type: string }, nowMs: number, limits: IntakeSafetyOptions): Refusal | undefined {
  const skew = limits.clockSkewMs ?? INTAKE_DEFAULTS.clockSkewMs;
  const ageMs = nowMs - decision.timestamp;
  const at = `timestamp ${decision.timestamp} (${isoOr(decision.timestamp)})`;
  if (-ageMs > skew) {
    return { rule: 'future', reason: `future: ${at} is ${-ageMs} ms ahead of this host's clock, more than DECISION_CLOCK_SKEW_MS=${skew}; not executed` };
  }
  const market = decision.order_type === 'MARKET';
  const max = market ? (limits.maxAgeMs ?? INTAKE_DEFAULTS.maxAgeMs) : (limits.maxAgeRestingMs ?? INTAKE_DEFAULTS.maxAgeRestingMs);
  if (max > 0 && ageMs > max) {
    const setting = market ? 'DECISION_MAX_AGE_MS' : 'DECISION_MAX_AGE_RESTING_MS';
    return { rule: 'expired', reason: `expired: ${at} is ${ageMs} ms old, older than ${setting}=${max} for a ${decision.order_type} order; not executed` };
  }
  return undefined;
}

export function conflictRefusal(d: RiskDecision, before: { status: string; contentHash?: string }, hash: string): Refusal {
  const recorded = before.contentHash ? `${before.contentHash.slice(0, 12)}…` : 'unknown';
  return {
    rule: 'conflict',
    reason:
      `conflict: decision_id ${d.decision_id} was already received with other content (that decision is ${before.status}; ` +
      `content sha256 ${hash.slice(0, 12)}… here, ${recorded} recorded); this ${d.decision} is not executed`,
  };
}

export function haltedRefusal(halt: { reason: string | null }): Refusal {
  return { rule: 'halted', reason: `halted: trading is halted${halt.reason ? ` (${halt.reason})` : ''}; run \`trade-exec resume\` to trade again; not executed` };
}

function isoOr(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'not a date' : d.toISOString();
}
