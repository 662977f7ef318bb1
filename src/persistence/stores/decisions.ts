/**
 * The decisions table: one row per risk decision, keyed by decision_id, whose status only
 * moves forward (received → started → one terminal outcome). Idempotent as every store is
 * (see store-conflict-error.ts).
 */
import { z } from 'zod';
import { type RiskDecision, sideOf, workflowIdFor } from '../../shared/decision';
import type { Queryable } from '../db';
import {
  DECISION_STATUSES,
  type DecisionRecord,
  DecisionRecordSchema,
  type DecisionRow,
  DecisionRowSchema,
  type DecisionStatus,
  decisionStatusRank,
} from '../schemas';

// Status ranks as SQL, generated from the TypeScript functions so the two cannot disagree.
function rankSql<S extends string>(expr: string, statuses: readonly S[], rank: (s: S) => number): string {
  return `(CASE ${expr} ${statuses.map((s) => `WHEN '${s}' THEN ${rank(s)}`).join(' ')} END)`;
}

export interface RecordDecisionResult {
  /** True when this call created the row. */
  inserted: boolean;
  /** True when this call created the row or moved its status forward. */
  changed: boolean;
  /** The status stored after the call (may be ahead of the one given). */
  status: DecisionStatus;
}

/**
 * The values of an INSERT INTO decisions (decision_id, workflow_id, symbol, decision, side,
 * approved_size, order_type, status, reasons, payload, stream_entry_id): $1..$11, in that order.
 */
export function decisionInsertParams(d: DecisionRecord): unknown[] {
  return [
    d.decision_id,
    d.workflow_id,
    d.symbol,
    d.decision,
    d.side,
    d.approved_size,
    d.order_type,
    d.status,
    JSON.stringify(d.reasons),
    JSON.stringify(d.payload),
    d.stream_entry_id,
  ];
}

/**
 * Upserts a decision by decision_id. The first insert's payload, reasons and fields win;
 * later calls can only move `status` forward (received → started → one terminal outcome)
 * and fill in a missing workflow_id. A stale or repeated status is a no-op, not an error,
 * because activity retries deliver them routinely.
 */
export async function recordDecision(
  db: Queryable,
  record: DecisionRecord,
  options: { /** Never update an existing decision's row (an 'invalid' one still gives way to a valid one). */ insertOnly?: boolean } = {},
): Promise<RecordDecisionResult> {
  const d = DecisionRecordSchema.parse(record);
  const inserted = await db.query(
    `INSERT INTO decisions (decision_id, workflow_id, symbol, decision, side, approved_size, order_type, status, reasons,
                            payload, stream_entry_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)
     ON CONFLICT (decision_id) DO NOTHING
     RETURNING status`,
    decisionInsertParams(d),
  );
  if (inserted.rowCount === 1) return { inserted: true, changed: true, status: d.status };
  if (d.status !== 'invalid') {
    // A malformed message got to this id first. The real decision takes the id; the malformed
    // one keeps its row under its stream entry id (as if the id had been taken), so neither is lost.
    const moved = await db.query(
      `UPDATE decisions SET decision_id = 'entry:' || COALESCE(stream_entry_id, decision_id || '@' || (extract(epoch FROM received_at) * 1000)::bigint)
        WHERE decision_id = $1 AND status = 'invalid'`,
      [d.decision_id],
    );
    if (moved.rowCount === 1) return recordDecision(db, record, options);
  }
  if (options.insertOnly) {
    const current = await getDecision(db, d.decision_id);
    if (!current) throw new Error(`decision ${d.decision_id} vanished during recordDecision`);
    return { inserted: false, changed: false, status: current.status };
  }
  const r = await updateDecisionStatus(db, d.decision_id, d.status, { workflowId: d.workflow_id });
  if (!r.found) throw new Error(`decision ${d.decision_id} vanished during recordDecision`);
  return { inserted: false, changed: r.changed, status: r.status };
}

/**
 * Moves an existing decision's status forward (a stale or repeated status is a no-op) and
 * fills in its workflow id and, for a failure, the error. `found: false` when no such row.
 * 'invalid' is only ever set by the insert: a malformed message that reuses the id of a
 * decision already recorded must not mark that decision invalid.
 */
export async function updateDecisionStatus(
  db: Queryable,
  decisionId: string,
  status: DecisionStatus,
  options: { workflowId?: string | null; error?: string | null } = {},
): Promise<{ found: boolean; changed: boolean; status: DecisionStatus }> {
  const s = z.enum(DECISION_STATUSES).parse(status);
  if (s === 'invalid') {
    const current = await getDecision(db, decisionId);
    return current ? { found: true, changed: false, status: current.status } : { found: false, changed: false, status: s };
  }
  const rank = (e: string) => rankSql(e, DECISION_STATUSES, decisionStatusRank);
  const updated = await db.query(
    `UPDATE decisions
        SET status = $2, workflow_id = COALESCE(workflow_id, $3), error = COALESCE($4, error), updated_at = now()
      WHERE decision_id = $1 AND ${rank('$2::text')} > ${rank('status')}
      RETURNING status`,
    [decisionId, s, options.workflowId ?? null, options.error === undefined ? null : options.error?.slice(0, 4000) ?? null],
  );
  if (updated.rowCount === 1) return { found: true, changed: true, status: s };
  const current = await getDecision(db, decisionId);
  return current ? { found: true, changed: false, status: current.status } : { found: false, changed: false, status: s };
}

/** The record for a validated risk decision (the usual case for the bridge/workflow). */
export function decisionRecordFrom(
  decision: RiskDecision,
  status: DecisionStatus,
  payload: unknown = decision,
): DecisionRecord {
  return {
    decision_id: decision.decision_id,
    workflow_id: workflowIdFor(decision.decision_id),
    symbol: decision.symbol,
    decision: decision.decision,
    side: sideOf(decision.original_signal) ?? null,
    approved_size: decision.approved_size,
    order_type: decision.order_type,
    status,
    reasons: decision.reasons,
    // Round-trip through JSON so optional fields left undefined are dropped, as jsonb would.
    payload: z.json().parse(JSON.parse(JSON.stringify(payload))),
  };
}

export async function getDecision(db: Queryable, decisionId: string): Promise<DecisionRow | null> {
  const r = await db.query('SELECT * FROM decisions WHERE decision_id = $1', [decisionId]);
  return r.rows[0] === undefined ? null : DecisionRowSchema.parse(r.rows[0]);
}
