/** Execution reports: the transactional outbox for the Redis report stream. */
import { z } from 'zod';
import type { Queryable } from '../db';
import {
  type ExecutionReportInput,
  ExecutionReportInputSchema,
  type ExecutionReportRow,
  ExecutionReportRowSchema,
} from '../schemas';
import { StoreConflictError } from './store-conflict-error';

export interface InsertExecutionReportResult {
  inserted: boolean;
  /** The stored report: for a repeat, the FIRST version (its stream_id tells whether it was published). */
  report: ExecutionReportRow;
}

/** Inserts a report once per report_id; a repeat returns the stored one unchanged. */
export async function insertExecutionReport(
  db: Queryable,
  report: ExecutionReportInput,
): Promise<InsertExecutionReportResult> {
  const r0 = ExecutionReportInputSchema.parse(report);
  const r = await db.query(
    `INSERT INTO execution_reports (report_id, report_type, decision_id, workflow_id, client_order_id, status, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
     ON CONFLICT (report_id) DO NOTHING
     RETURNING *`,
    [r0.report_id, r0.report_type, r0.decision_id, r0.workflow_id, r0.client_order_id, r0.status, JSON.stringify(r0.payload)],
  );
  if (r.rows[0] !== undefined) return { inserted: true, report: ExecutionReportRowSchema.parse(r.rows[0]) };
  const existing = await getExecutionReport(db, r0.report_id);
  if (!existing) throw new Error(`execution report ${r0.report_id} vanished during insert`);
  if (existing.decision_id !== r0.decision_id) {
    throw new StoreConflictError(
      `execution report ${r0.report_id} already exists for decision ${existing.decision_id}, not ${r0.decision_id}`,
    );
  }
  return { inserted: false, report: existing };
}

/**
 * Records the Redis stream entry id of a published report. The first id wins: if the report
 * was already marked (a duplicate publish after a crash), the stored id is returned and
 * `updated` is false. Throws if the report does not exist.
 */
export async function markReportPublished(
  db: Queryable,
  reportId: string,
  streamId: string,
): Promise<{ updated: boolean; stream_id: string }> {
  if (!/^\d+-\d+$/.test(streamId)) throw new Error(`not a Redis stream entry id: ${JSON.stringify(streamId)}`);
  const r = await db.query(
    `UPDATE execution_reports SET stream_id = $2, published_at = now()
      WHERE report_id = $1 AND stream_id IS NULL
      RETURNING stream_id`,
    [reportId, streamId],
  );
  if (r.rowCount === 1) return { updated: true, stream_id: streamId };
  const existing = await getExecutionReport(db, reportId);
  if (!existing) throw new Error(`execution report ${reportId} does not exist`);
  return { updated: false, stream_id: z.string().parse(existing.stream_id) };
}

export async function getExecutionReport(db: Queryable, reportId: string): Promise<ExecutionReportRow | null> {
  const r = await db.query('SELECT * FROM execution_reports WHERE report_id = $1', [reportId]);
  return r.rows[0] === undefined ? null : ExecutionReportRowSchema.parse(r.rows[0]);
}

/** Reports not yet published, oldest first (for the outbox relay). */
export async function listUnpublishedReports(db: Queryable, limit = 100): Promise<ExecutionReportRow[]> {
  const r = await db.query(
    'SELECT * FROM execution_reports WHERE stream_id IS NULL ORDER BY created_at, report_id LIMIT $1',
    [Math.max(1, Math.min(10_000, Math.floor(limit)))],
  );
  return z.array(ExecutionReportRowSchema).parse(r.rows);
}
