/** Reconciliation runs: one row per drift found (per run, kind and subject) and a summary per run. */
import { z } from 'zod';
import type { Queryable } from '../db';
import { type ReconciliationRunInput, ReconciliationRunInputSchema, type ReconciliationRunRow, ReconciliationRunRowSchema } from '../schemas';

export async function recordReconciliationRun(db: Queryable, run: ReconciliationRunInput): Promise<ReconciliationRunRow> {
  const r0 = ReconciliationRunInputSchema.parse(run);
  const r = await db.query(
    `INSERT INTO reconciliation_runs (ran_at, kind, detail, repaired)
     VALUES (COALESCE($1::timestamptz, now()), $2, $3::jsonb, $4)
     RETURNING *`,
    [r0.ran_at ?? null, r0.kind, JSON.stringify(r0.detail), r0.repaired],
  );
  return ReconciliationRunRowSchema.parse(r.rows[0]);
}

/**
 * What the previous reconciliation run saw of an asset's balance: the most recent other run that
 * compared balances (its summary row says balancesChecked), and that run's balance_drift row for
 * the asset, if it had one. "Seen by the previous run" means exactly that run: an older sighting,
 * with a clean run in between, is not a confirmation. A run that died before writing its summary
 * does not count as a previous run.
 */
export async function previousRunBalanceDrift(
  db: Queryable,
  asset: string,
  currentRunId: string,
): Promise<{ runId: string; ranAt: Date; drift?: { diff?: string; seenAt: Date } } | undefined> {
  const r = await db.query<{ run_id: string; ran_at: Date; detail: { diff?: string } | null; seen_at: Date | null }>(
    `WITH previous AS (
       SELECT run_id, ran_at FROM reconciliation_runs
        WHERE kind = 'summary' AND run_id IS NOT NULL AND run_id <> $2 AND (detail->>'balancesChecked')::boolean
        ORDER BY id DESC LIMIT 1)
     SELECT p.run_id, p.ran_at, d.detail, d.ran_at AS seen_at
       FROM previous p
       LEFT JOIN reconciliation_runs d ON d.run_id = p.run_id AND d.kind = 'balance_drift' AND d.detail->>'subject' = $1`,
    [asset, currentRunId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return { runId: row.run_id, ranAt: row.ran_at, ...(row.detail && row.seen_at ? { drift: { ...row.detail, seenAt: row.seen_at } } : {}) };
}

export async function listReconciliationRuns(
  db: Queryable,
  options: { kind?: string; limit?: number } = {},
): Promise<ReconciliationRunRow[]> {
  const limit = Math.max(1, Math.min(10_000, Math.floor(options.limit ?? 100)));
  const r = await db.query(
    `SELECT * FROM reconciliation_runs WHERE ($1::text IS NULL OR kind = $1) ORDER BY ran_at DESC, id DESC LIMIT $2`,
    [options.kind ?? null, limit],
  );
  return z.array(ReconciliationRunRowSchema).parse(r.rows);
}
