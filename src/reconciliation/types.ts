/**
 * Types shared by the Reconciliation workflow and its activities. Pure (imported by workflow
 * code): no I/O, no node APIs.
 */

export interface ReconciliationInput {
  /**
   * The symbols the service trades, in order of preference: the first symbol of a base asset
   * is where inventory of that asset found on the account is booked. Symbols with positions or
   * recent orders in Postgres are checked as well.
   */
  symbols?: string[];
  /** How far back recent trades are compared (ms, at most 24 h: Binance's myTrades window). Default 6 h. */
  lookbackMs?: number;
  /** Request weight one run may spend at most. Default 300. */
  maxWeightPerRun?: number;
  /** Share of each REQUEST_WEIGHT limit (0..1) reconciliation may fill up to. Default 0.2. */
  maxShareOfLimit?: number;
  /** An order open in Postgres but not on the exchange is only acted on after this long (ms). Default 10 min. */
  staleOrderMs?: number;
  /** A report still unpublished after this long (ms) is published by reconciliation. Default 2 min. */
  outboxAgeMs?: number;
  /**
   * A balance drift is repaired only when the previous run found the same drift for the same
   * asset no longer ago than this (ms), with no fill recorded in between. Default 1 h.
   */
  confirmWithinMs?: number;
  /**
   * A trade the exchange lists but Postgres lacks is only treated as missing once it is this old
   * (ms): younger ones are normally being settled by their workflow right now. Default 60 s.
   */
  settleGraceMs?: number;
  /** Valuation asset for drift values and exposure. Default USDT. */
  valuationAsset?: string;
  /** false: find and record drift, change nothing. Default true. */
  repair?: boolean;
}

export const RECONCILIATION_DEFAULTS = {
  lookbackMs: 6 * 3600_000,
  maxWeightPerRun: 300,
  maxShareOfLimit: 0.2,
  staleOrderMs: 10 * 60_000,
  outboxAgeMs: 2 * 60_000,
  confirmWithinMs: 3600_000,
  settleGraceMs: 60_000,
  valuationAsset: 'USDT',
  repair: true,
} as const;

export type ResolvedReconciliationInput = Required<Omit<ReconciliationInput, 'symbols'>> & { symbols: string[] };

export function resolveInput(input: ReconciliationInput | undefined): ResolvedReconciliationInput {
  const i = input ?? {};
  return {
    symbols: i.symbols ?? [],
    lookbackMs: Math.min(i.lookbackMs ?? RECONCILIATION_DEFAULTS.lookbackMs, 24 * 3600_000 - 60_000),
    maxWeightPerRun: i.maxWeightPerRun ?? RECONCILIATION_DEFAULTS.maxWeightPerRun,
    maxShareOfLimit: i.maxShareOfLimit ?? RECONCILIATION_DEFAULTS.maxShareOfLimit,
    staleOrderMs: i.staleOrderMs ?? RECONCILIATION_DEFAULTS.staleOrderMs,
    outboxAgeMs: i.outboxAgeMs ?? RECONCILIATION_DEFAULTS.outboxAgeMs,
    confirmWithinMs: i.confirmWithinMs ?? RECONCILIATION_DEFAULTS.confirmWithinMs,
    settleGraceMs: i.settleGraceMs ?? RECONCILIATION_DEFAULTS.settleGraceMs,
    valuationAsset: i.valuationAsset ?? RECONCILIATION_DEFAULTS.valuationAsset,
    repair: i.repair ?? RECONCILIATION_DEFAULTS.repair,
  };
}

export type DriftKind =
  /** A trade the exchange has and Postgres does not (repair: apply it). */
  | 'missing_fill'
  /** A fill Postgres has and the exchange does not list (no repair: investigate). */
  | 'unknown_fill'
  /** The same trade id recorded with different content (no repair). */
  | 'fill_mismatch'
  /** A position that disagrees with its own fills and adjustments (repair: rebuild). */
  | 'position_mismatch'
  /** An open order on the exchange that Postgres does not know (repair: record it). */
  | 'unknown_open_order'
  /** An order whose status in Postgres is behind the exchange's (repair: move it forward). */
  | 'order_status'
  /** An order open in Postgres that the exchange no longer lists as open (repair: query and record). */
  | 'stale_open_order'
  /** Account balance of an asset ≠ sum of its positions (repair: inventory adjustment once confirmed). */
  | 'balance_drift'
  /** Initial inventory found on the account (repair: seeded into the home position). */
  | 'initial_inventory'
  /** An execution report stored but not published (repair: publish once). */
  | 'unpublished_report';

export interface Drift {
  kind: DriftKind;
  /** What it is about: a symbol, an asset, a trade or order id. */
  subject: string;
  repaired: boolean;
  /** Value in the valuation asset when known (for alert thresholds). */
  valueQuote?: string;
  detail: Record<string, unknown>;
}

export interface SymbolResult {
  symbol: string;
  /** Weight this activity spent. */
  weight: number;
  /** The budget ran out before this symbol was checked (nothing was sent). */
  deferred: boolean;
  deferReason?: string;
  drifts: Drift[];
}

export interface BalanceResult {
  weight: number;
  deferred: boolean;
  deferReason?: string;
  drifts: Drift[];
  assetsCompared: number;
}

export interface ReconciliationPlan {
  runId: string;
  /** Symbols in the order they should be checked. */
  symbols: string[];
}

export interface ReconciliationSummary {
  runId: string;
  outcome: 'clean' | 'drift' | 'failed';
  checkedSymbols: string[];
  deferredSymbols: string[];
  balancesChecked: boolean;
  weight: number;
  drifts: number;
  repaired: number;
  unrepaired: number;
  byKind: Record<string, number>;
  alerts: number;
  error?: string;
}
