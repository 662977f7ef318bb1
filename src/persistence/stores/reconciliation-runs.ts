/** Reconciliation runs: one row per drift found (per run, kind and subject) and a summary per run. */
import { z } from 'zod';
import type { Drift } from '../../reconciliation/types';
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

/** Records one drift row (idempotent per run, kind and subject). */
export async function recordDrift(db: Queryable, runId: string, drift: Drift): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_runs (run_id, kind, detail, repaired) VALUES ($1, $2, $3::jsonb, $4)
     ON CONFLICT (run_id, kind, (detail->>'subject')) WHERE run_id IS NOT NULL
     DO UPDATE SET repaired = reconciliation_runs.repaired OR EXCLUDED.repaired`,
    [runId, drift.kind, JSON.stringify({ subject: drift.subject, ...(drift.valueQuote ? { valueQuote: drift.valueQuote } : {}), ...drift.detail }), drift.repaired],
  );
}

/** The drift rows one run recorded (not its summary), in the order they were recorded. */
export async function listRunDrifts(
  db: Queryable,
  runId: string,
): Promise<Array<{ kind: string; detail: Record<string, unknown>; repaired: boolean }>> {
  const rows = await db.query<{ kind: string; detail: Record<string, unknown>; repaired: boolean }>(
    `SELECT kind, detail, repaired FROM reconciliation_runs WHERE run_id = $1 AND kind <> 'summary' ORDER BY id`,
    [runId],
  );
  return rows.rows;
}

/** Writes (or, for a retried finish, replaces) the run's summary row. */
export async function recordRunSummary(db: Queryable, runId: string, summary: object, clean: boolean): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_runs (run_id, kind, detail, repaired) VALUES ($1, 'summary', $2::jsonb, $3)
     ON CONFLICT (run_id, kind, (detail->>'subject')) WHERE run_id IS NOT NULL DO UPDATE SET detail = EXCLUDED.detail, ran_at = now()`,
    [runId, JSON.stringify({ subject: 'run', ...summary }), clean],
  );
}

// ---------------------------------------------------------------------------------------------
// reconciliation_symbols: when each symbol was last checked

/**
 * The symbols a run should check: every position, every order open in Postgres or touched
 * within the lookback, and the configured ones. Each is registered in reconciliation_symbols,
 * and they come least recently checked first, so a run cut short by its budget is continued by
 * the next one and no symbol starves; among equals, symbols with orders open in Postgres first.
 */
export async function symbolsToReconcile(
  db: Queryable,
  options: { openStatuses: readonly string[]; lookbackMs: number; configured: readonly string[] },
): Promise<string[]> {
  const r = await db.query<{ symbol: string }>(
    `SELECT symbol FROM positions
     UNION SELECT symbol FROM orders WHERE status = ANY($1::text[]) OR updated_at > now() - make_interval(secs => $2::double precision)
     UNION SELECT unnest($3::text[])`,
    [options.openStatuses, options.lookbackMs / 1000, options.configured],
  );
  const symbols = r.rows.map((x) => x.symbol);
  if (symbols.length > 0) {
    await db.query(
      'INSERT INTO reconciliation_symbols (symbol) SELECT unnest($1::text[]) ON CONFLICT (symbol) DO NOTHING',
      [symbols],
    );
  }
  const ordered = await db.query<{ symbol: string }>(
    `SELECT s.symbol FROM reconciliation_symbols s
      WHERE s.symbol = ANY($1::text[])
      ORDER BY s.last_checked_at NULLS FIRST,
               EXISTS (SELECT 1 FROM orders o WHERE o.symbol = s.symbol AND o.status = ANY($2::text[])) DESC,
               s.symbol`,
    [symbols, options.openStatuses],
  );
  return ordered.rows.map((x) => x.symbol);
}

/** Marks a symbol checked by a run; the last trade id seen only moves when the run saw one. */
export async function markSymbolChecked(db: Queryable, symbol: string, runId: string, lastTradeId: string | null): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_symbols (symbol, last_checked_at, last_run_id, last_trade_id) VALUES ($1, now(), $2, $3)
     ON CONFLICT (symbol) DO UPDATE SET last_checked_at = now(), last_run_id = $2,
       last_trade_id = COALESCE($3, reconciliation_symbols.last_trade_id)`,
    [symbol, runId, lastTradeId],
  );
}
