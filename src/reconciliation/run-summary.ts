/**
 * The end of a reconciliation run: the summary of the drift rows it recorded, and the alerts
 * they raise. Pure apart from the alert sink, so the Reconciler only reads the rows and writes
 * the summary row.
 */
import type { AlertSink } from '../alerts/alerts';
import { dec } from '../shared/decimal';
import type { ReconciliationSummary } from './types';

/** A drift row as the run recorded it (stores/reconciliation-runs.ts listRunDrifts). */
export interface RecordedDrift {
  kind: string;
  detail: Record<string, unknown>;
  repaired: boolean;
}

export interface RunOutcome {
  checkedSymbols: string[];
  deferredSymbols: string[];
  balancesChecked: boolean;
  weight: number;
  error?: string;
}

/** Counts per kind and repaired/unrepaired; `alerts` starts at 0 (raiseRunAlerts adds to it). */
export function summariseRun(runId: string, recorded: readonly RecordedDrift[], run: RunOutcome): ReconciliationSummary {
  const byKind: Record<string, number> = {};
  for (const r of recorded) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  const repaired = recorded.filter((r) => r.repaired).length;
  const summary: ReconciliationSummary = {
    runId,
    outcome: run.error !== undefined ? 'failed' : recorded.length > 0 ? 'drift' : 'clean',
    checkedSymbols: run.checkedSymbols,
    deferredSymbols: run.deferredSymbols,
    balancesChecked: run.balancesChecked,
    weight: run.weight,
    drifts: recorded.length,
    repaired,
    unrepaired: recorded.length - repaired,
    byKind,
    alerts: 0,
    ...(run.error !== undefined ? { error: run.error } : {}),
  };
  return summary;
}

/**
 * Raises the run's alerts: one if it failed, and one per drift kind (balance drift only once
 * it persists and is worth the threshold). Returns how many were raised (not deduplicated away).
 */
export async function raiseRunAlerts(
  alerts: AlertSink,
  runId: string,
  recorded: readonly RecordedDrift[],
  options: { error: string | undefined; driftAlertQuoteValue: string },
): Promise<number> {
  let raised = 0;
  if (options.error !== undefined) {
    const a = await alerts.raise({
      kind: 'reconciliation_failed',
      severity: 'critical',
      message: `reconciliation run ${runId} failed: ${options.error}`,
      detail: { runId, error: options.error },
      dedupeKey: 'reconciliation_failed',
    });
    if (a.raised) raised++;
  }
  const threshold = dec(options.driftAlertQuoteValue);
  const groups = new Map<string, Array<{ detail: Record<string, unknown>; repaired: boolean }>>();
  for (const r of recorded) {
    const v = r.detail.valueQuote;
    // Balance drift alerts once it persists (seen by the previous run too: a single sighting
    // is usually a trade in flight) and is worth at least the threshold; other kinds always alert.
    if (r.kind === 'balance_drift' && (r.detail.persistent !== true || (typeof v === 'string' && dec(v).lt(threshold)))) continue;
    groups.set(r.kind, [...(groups.get(r.kind) ?? []), r]);
  }
  for (const [kind, items] of groups) {
    const fixed = items.filter((i) => i.repaired).length;
    const subjects = items.map((i) => String(i.detail.subject)).sort();
    const a = await alerts.raise({
      kind: kind === 'initial_inventory' ? 'external_inventory' : 'reconciliation_drift',
      severity: kind === 'initial_inventory' ? 'info' : fixed === items.length ? 'warning' : 'critical',
      message: `reconciliation ${runId}: ${items.length} ${kind} (${fixed} repaired): ${subjects.slice(0, 10).join(', ')}${subjects.length > 10 ? ', …' : ''}`,
      detail: { runId, drift: kind, repaired: fixed, count: items.length, items: items.slice(0, 20).map((i) => i.detail) },
      dedupeKey: `reconciliation:${kind}:${subjects.join(',').slice(0, 200)}`,
      cooldownMs: 30 * 60_000,
    });
    if (a.raised) raised++;
  }
  return raised;
}
