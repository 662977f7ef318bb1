/** The bridge's recorder on Postgres: the shared decision recorder plus `claim` and `recordRefused`. */
import type { Pool } from 'pg';
import { createPgDecisionRecorder } from '../persistence/pg-ports';
import { decisionInsertParams, decisionRecordFrom, recordDecision } from '../persistence/stores/decisions';
import { DecisionRecordSchema, DECISION_STATUSES, type DecisionStatus } from '../persistence/schemas';
import { RiskDecisionSchema } from '../shared/decision';
import type { BridgeRecorder, ClaimResult, PriorDecision } from './decision-recorder';
import { contentHashOf } from './intake-safety';

const INSERT_COLUMNS = `decision_id, workflow_id, symbol, decision, side, approved_size, order_type, status, reasons,
                        payload, stream_entry_id, content_hash`;

interface ClaimRow {
  inserted: number;
  halted: boolean;
  halt_reason: string | null;
  prior_status: string | null;
  prior_hash: string | null;
  prior_payload: unknown;
}

export function createPgBridgeRecorder(pool: Pool): BridgeRecorder {
  return {
    ...createPgDecisionRecorder(pool),

    async claim(decision, entryId, options = {}) {
      const insert = options.insert ?? true;
      const hash = contentHashOf(decision);
      const record = DecisionRecordSchema.parse(
        decision.decision === 'reject'
          ? { ...decisionRecordFrom(decision, 'rejected'), workflow_id: null, stream_entry_id: entryId }
          : { ...decisionRecordFrom(decision, 'received'), stream_entry_id: entryId },
      );
      // One round trip for the usual case: the kill switch, the row already there (if any, as of
      // before this statement) and the insert, which is skipped while halted (a reject is still
      // recorded: it executes nothing).
      const r = await pool.query<ClaimRow>(
        `WITH halt AS (SELECT reason FROM trading_halt WHERE halted),
              prior AS (SELECT status, content_hash, payload FROM decisions WHERE decision_id = $1),
              ins AS (
                INSERT INTO decisions (${INSERT_COLUMNS})
                SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12
                 WHERE $13::boolean AND NOT ($14::boolean AND EXISTS (SELECT 1 FROM halt))
                ON CONFLICT (decision_id) DO NOTHING
                RETURNING 1)
         SELECT (SELECT count(*) FROM ins)::int AS inserted,
                EXISTS (SELECT 1 FROM halt) AS halted,
                (SELECT reason FROM halt LIMIT 1) AS halt_reason,
                (SELECT status FROM prior) AS prior_status,
                (SELECT content_hash FROM prior) AS prior_hash,
                (SELECT payload FROM prior) AS prior_payload`,
        [
          ...decisionInsertParams(record),
          hash,
          insert,
          decision.decision !== 'reject',
        ],
      );
      const row = r.rows[0]!;
      const halted = row.halted ? { reason: row.halt_reason } : undefined;
      let prior: PriorDecision | undefined = row.prior_status === null ? undefined : priorFrom(row.prior_status, row.prior_hash, row.prior_payload);
      const attempted = insert && !(halted && decision.decision !== 'reject');
      if (row.inserted === 0 && attempted) {
        if (prior === undefined) {
          // Another bridge inserted the id after this statement's snapshot: read what it wrote.
          const again = await pool.query<{ status: string; content_hash: string | null; payload: unknown }>(
            'SELECT status, content_hash, payload FROM decisions WHERE decision_id = $1',
            [record.decision_id],
          );
          const a = again.rows[0];
          if (a) prior = priorFrom(a.status, a.content_hash, a.payload);
        }
        if (prior?.status === 'invalid') {
          // A malformed or refused entry got to this id first; it executed nothing, so the real
          // decision takes the id (recordDecision moves the other row to `entry:<its entry id>`).
          await recordDecision(pool, record, { insertOnly: true });
          await pool.query('UPDATE decisions SET content_hash = $2 WHERE decision_id = $1 AND content_hash IS NULL', [record.decision_id, hash]);
        }
      }
      const result: ClaimResult = { ...(prior ? { before: prior } : {}), ...(halted ? { halted } : {}) };
      return result;
    },

    async recordRefused({ decision, rule, reason, entryId, takeOver }) {
      const hash = contentHashOf(decision);
      const record = DecisionRecordSchema.parse({
        ...decisionRecordFrom(decision, 'invalid'),
        workflow_id: null,
        reasons: [reason],
        stream_entry_id: entryId,
      });
      const values = (id: string) => [
        id,
        null,
        record.symbol,
        record.decision,
        record.side,
        record.approved_size,
        record.order_type,
        'invalid',
        JSON.stringify(record.reasons),
        JSON.stringify(record.payload),
        record.stream_entry_id,
        hash,
        rule,
      ];
      // takeOver: the bridge established that the id's 'received' row is this very decision (same
      // content) and that no workflow was started for it; that row becomes the refused one.
      // Otherwise an existing row (another entry's) is never touched.
      const first = await pool.query(
        `INSERT INTO decisions (${INSERT_COLUMNS}, refused_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13)
         ON CONFLICT (decision_id) DO UPDATE
            SET status = 'invalid', workflow_id = NULL, refused_rule = EXCLUDED.refused_rule, reasons = EXCLUDED.reasons,
                stream_entry_id = EXCLUDED.stream_entry_id, updated_at = now()
          WHERE $14::boolean AND decisions.status = 'received' AND decisions.content_hash = EXCLUDED.content_hash
         RETURNING 1`,
        [...values(decision.decision_id), takeOver === true],
      );
      if (first.rowCount === 1) return;
      // The id belongs to another row (an executed decision, a conflict's original): this entry
      // is recorded under its stream entry id, as a malformed message would be.
      await pool.query(
        `INSERT INTO decisions (${INSERT_COLUMNS}, refused_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13)
         ON CONFLICT (decision_id) DO NOTHING`,
        values(`entry:${entryId}`),
      );
    },
  };
}

function priorFrom(status: string, hash: string | null, payload: unknown): PriorDecision {
  const s = (DECISION_STATUSES as readonly string[]).includes(status) ? (status as DecisionStatus) : 'invalid';
  return { status: s, contentHash: hash ?? hashOfPayload(payload) };
}

/** Rows written before content hashes were stored: the payload is the parsed decision as JSON. */
function hashOfPayload(payload: unknown): string | undefined {
  const parsed = RiskDecisionSchema.safeParse(payload);
  return parsed.success ? contentHashOf(parsed.data) : undefined;
}
