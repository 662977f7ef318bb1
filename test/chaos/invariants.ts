/**
 * The promises of issue 11, as pure functions over a snapshot of everything the chaos run left
 * behind: Temporal's workflows, the paper exchange's orders and trades, PostgreSQL's rows and the
 * `trade_executions` stream. No I/O here, so each check can be unit tested with a hand-made
 * snapshot that violates it (invariants.test.ts), and a failed run can be re-checked offline from
 * the JSON the run writes.
 *
 * Every check returns every violation it finds (never only the first), each naming the decision,
 * the invariant and the figures that break it.
 */
import { dec, ZERO, type Dec } from '../../src/shared/decimal';

// ---- the snapshot ---------------------------------------------------------------------------

/** A decision the test sent on `risk_decisions`. */
export interface SentDecision {
  decisionId: string;
  /** What the schedule meant it to exercise (market, limit_fill, amend, ...): for the figures. */
  kind: string;
  side: 'BUY' | 'SELL';
  symbol: string;
  /** approved_size as sent (a decimal string). */
  approvedSize: string;
}

/** One run of a workflow, from visibility. Status names as the Temporal client spells them. */
export interface WorkflowRun {
  workflowId: string;
  runId: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED_AS_NEW, TIMED_OUT */
  status: string;
}

/** What the workflow itself says at the end (its result, or its getState query when it did not complete). */
export interface WorkflowOutcome {
  workflowId: string;
  /** The trade status in the workflow's state (filled, cancelled, failed, ...); undefined when unknown. */
  tradeStatus?: string;
  error?: string | null;
  /** Where the figures came from, or why there are none. */
  source: string;
}

export interface ExchangeOrder {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  side: 'BUY' | 'SELL';
  type: string;
  status: string;
  origQty: string;
  executedQty: string;
}

export interface ExchangeTrade {
  symbol: string;
  id: number;
  orderId: number;
  qty: string;
}

export interface PgOrder {
  clientOrderId: string;
  decisionId: string | null;
  purpose: string;
  side: string;
  exchangeOrderId: number | null;
  status: string;
  executedQty: string;
}

export interface PgFill {
  symbol: string;
  tradeId: number;
  exchangeOrderId: number;
  clientOrderId: string | null;
  qty: string;
}

export interface PgReport {
  reportId: string;
  decisionId: string;
  reportType: string;
  status: string;
  published: boolean;
}

export interface PgDecision {
  decisionId: string;
  status: string;
  error: string | null;
}

/** A `report_type: 'trade'` entry on `trade_executions`. */
export interface StreamTradeReport {
  streamId: string;
  reportId: string;
  decisionId: string;
  status: string;
  success: boolean;
  error: string | null;
  filledQuantity: string;
}

export interface ChaosSnapshot {
  decisions: SentDecision[];
  runs: WorkflowRun[];
  outcomes: WorkflowOutcome[];
  exchangeOrders: ExchangeOrder[];
  exchangeTrades: ExchangeTrade[];
  pgOrders: PgOrder[];
  pgFills: PgFill[];
  pgReports: PgReport[];
  pgDecisions: PgDecision[];
  streamReports: StreamTradeReport[];
}

export type InvariantName =
  | 'one closed workflow per decision'
  | 'at most one exchange order per intent'
  | 'no open exchange order without a running workflow'
  | 'executed <= approved per trade'
  | 'Postgres fills == exchange trades per order'
  | 'exactly one final report per decision'
  | 'every trade terminal with a reason'
  | 'a failed trade has no live order'
  | 'reported filled == executed on the exchange';

export interface Violation {
  invariant: InvariantName;
  /** The decision it concerns; `(unknown)` for an exchange order no decision of ours explains. */
  decisionId: string;
  /** One line saying what is wrong. */
  detail: string;
  /** The numbers behind it. */
  figures: Record<string, unknown>;
}

// ---- shared helpers -------------------------------------------------------------------------

export const UNKNOWN_DECISION = '(unknown)';

/** Binance statuses of an order that can still trade. */
const LIVE_STATUSES = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW', 'PENDING_CANCEL']);
const CLOSED_RUN_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);
const TERMINAL_TRADE_STATUSES = new Set(['filled', 'partially_filled', 'cancelled', 'expired', 'rejected', 'failed']);

export function isLive(o: Pick<ExchangeOrder, 'status'>): boolean {
  return LIVE_STATUSES.has(o.status);
}

export function workflowIdOf(decisionId: string): string {
  return `trade-${decisionId}`;
}

/** Purpose codes of src/shared/client-order-id.ts: e, ea, eb, el, r<n>, x<n>, b<n>, b<n>a, ... */
const READABLE_CID = /^te-(.+)-(e[abl]?|r\d+|x\d+|b\d+[abl]?)$/;
const PURPOSE_BY_CODE: Record<string, string> = { e: 'entry', r: 'replacement', x: 'close', b: 'bracket' };

/**
 * Which decision (and purpose) an exchange order belongs to: Postgres's orders row first (the
 * workflow records every intent before sending it), else the readable client order id, else the
 * exchange order id Postgres recorded (an order whose client order id the exchange changed, as
 * Binance's amend keepPriority does when no newClientOrderId is sent).
 */
export function ownerIndex(
  s: Pick<ChaosSnapshot, 'decisions' | 'pgOrders'>,
): (clientOrderId: string, orderId?: number) => { decisionId: string; purpose: string } {
  const known = new Set(s.decisions.map((d) => d.decisionId));
  const byCid = new Map(s.pgOrders.map((o) => [o.clientOrderId, o]));
  const byOrderId = new Map(s.pgOrders.filter((o) => o.exchangeOrderId !== null).map((o) => [o.exchangeOrderId!, o]));
  return (cid, orderId) => {
    const row = byCid.get(cid);
    if (row?.decisionId) return { decisionId: row.decisionId, purpose: row.purpose };
    const m = READABLE_CID.exec(cid);
    if (m && known.has(m[1]!)) return { decisionId: m[1]!, purpose: PURPOSE_BY_CODE[m[2]![0]!] ?? 'unknown' };
    const byId = orderId === undefined ? undefined : byOrderId.get(orderId);
    if (byId?.decisionId) return { decisionId: byId.decisionId, purpose: byId.purpose };
    return { decisionId: UNKNOWN_DECISION, purpose: 'unknown' };
  };
}

function sumQty(values: readonly string[]): Dec {
  return values.reduce((acc, v) => acc.plus(v), ZERO);
}

function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** Orders that count toward what a trade executed: its entry, replacements and close-now orders on its own side. */
function entryOrdersOf(s: ChaosSnapshot, d: SentDecision, owner: ReturnType<typeof ownerIndex>): ExchangeOrder[] {
  return s.exchangeOrders.filter((o) => {
    const w = owner(o.clientOrderId, o.orderId);
    return w.decisionId === d.decisionId && w.purpose !== 'bracket' && o.side === d.side;
  });
}

// ---- the invariants -------------------------------------------------------------------------

/** Each decision has exactly one workflow run that is not a continue-as-new hand-over, and it is closed. */
export function oneClosedWorkflowPerDecision(s: ChaosSnapshot): Violation[] {
  const out: Violation[] = [];
  const byId = groupBy(s.runs, (r) => r.workflowId);
  for (const d of s.decisions) {
    const runs = byId.get(workflowIdOf(d.decisionId)) ?? [];
    const ends = runs.filter((r) => r.status !== 'CONTINUED_AS_NEW');
    const pgRow = s.pgDecisions.find((x) => x.decisionId === d.decisionId);
    const figures = { runs: runs.map((r) => `${r.runId}:${r.status}`), pgDecisionStatus: pgRow?.status ?? null, kind: d.kind };
    const base = { invariant: 'one closed workflow per decision' as const, decisionId: d.decisionId, figures };
    if (runs.length === 0) out.push({ ...base, detail: 'no workflow was ever started for the decision' });
    else if (ends.length > 1) out.push({ ...base, detail: `${ends.length} separate workflow runs (expected one chain ending once)` });
    else if (ends.length === 0) out.push({ ...base, detail: 'only continue-as-new runs: the chain has no last run' });
    else if (!CLOSED_RUN_STATUSES.has(ends[0]!.status)) out.push({ ...base, detail: `workflow is ${ends[0]!.status}, not closed` });
  }
  return out;
}

/** No client order id was ever used for two exchange orders (a second order for one intent). */
export function atMostOneExchangeOrderPerIntent(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const out: Violation[] = [];
  for (const [key, orders] of groupBy(s.exchangeOrders, (o) => `${o.symbol} ${o.clientOrderId}`)) {
    if (orders.length <= 1) continue;
    const cid = orders[0]!.clientOrderId;
    out.push({
      invariant: 'at most one exchange order per intent',
      decisionId: owner(cid, orders[0]!.orderId).decisionId,
      detail: `${orders.length} exchange orders carry client order id ${cid} (${key.split(' ')[0]})`,
      figures: {
        clientOrderId: cid,
        orders: orders.map((o) => ({ orderId: o.orderId, status: o.status, origQty: o.origQty, executedQty: o.executedQty })),
      },
    });
  }
  return out;
}

/** Every order still live on the exchange belongs to a decision whose workflow is still running. */
export function noOpenOrderWithoutRunningWorkflow(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const running = new Set(s.runs.filter((r) => r.status === 'RUNNING').map((r) => r.workflowId));
  const statusOf = (wid: string) => s.runs.filter((r) => r.workflowId === wid).map((r) => r.status);
  const out: Violation[] = [];
  for (const o of s.exchangeOrders.filter(isLive)) {
    const w = owner(o.clientOrderId, o.orderId);
    if (w.decisionId !== UNKNOWN_DECISION && running.has(workflowIdOf(w.decisionId))) continue;
    const wid = w.decisionId === UNKNOWN_DECISION ? null : workflowIdOf(w.decisionId);
    out.push({
      invariant: 'no open exchange order without a running workflow',
      decisionId: w.decisionId,
      detail: `${o.clientOrderId} (${w.purpose}) is ${o.status} on the exchange and ${
        wid ? `its workflow is ${statusOf(wid).join('/') || 'absent'}` : 'no decision of ours explains it'
      }`,
      figures: { clientOrderId: o.clientOrderId, orderId: o.orderId, status: o.status, origQty: o.origQty, executedQty: o.executedQty, purpose: w.purpose },
    });
  }
  return out;
}

/** What a trade's entry orders executed on the exchange, summed exactly, never exceeds the approved size. */
export function executedWithinApproved(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const out: Violation[] = [];
  for (const d of s.decisions) {
    const orders = entryOrdersOf(s, d, owner);
    const executed = sumQty(orders.map((o) => o.executedQty));
    if (executed.lte(d.approvedSize)) continue;
    out.push({
      invariant: 'executed <= approved per trade',
      decisionId: d.decisionId,
      detail: `entry orders executed ${executed.toFixed()} of an approved ${dec(d.approvedSize).toFixed()} (${executed.minus(d.approvedSize).toFixed()} too much)`,
      figures: {
        approved: d.approvedSize,
        executed: executed.toFixed(),
        kind: d.kind,
        orders: orders.map((o) => ({ clientOrderId: o.clientOrderId, orderId: o.orderId, status: o.status, origQty: o.origQty, executedQty: o.executedQty })),
      },
    });
  }
  return out;
}

/** For every exchange order, Postgres holds exactly the exchange's trades (same trade ids, same quantity). */
export function fillsMatchExchangeTrades(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const key = (symbol: string, orderId: number) => `${symbol}#${orderId}`;
  const exTrades = groupBy(s.exchangeTrades, (t) => key(t.symbol, t.orderId));
  const pgFills = groupBy(s.pgFills, (f) => key(f.symbol, f.exchangeOrderId));
  const orderByKey = new Map(s.exchangeOrders.map((o) => [key(o.symbol, o.orderId), o]));
  const out: Violation[] = [];
  for (const k of new Set([...exTrades.keys(), ...pgFills.keys()])) {
    const ex = exTrades.get(k) ?? [];
    const pg = pgFills.get(k) ?? [];
    const exIds = new Set(ex.map((t) => t.id));
    const pgIds = new Set(pg.map((f) => f.tradeId));
    const missing = [...exIds].filter((id) => !pgIds.has(id)).sort((a, b) => a - b);
    const extra = [...pgIds].filter((id) => !exIds.has(id)).sort((a, b) => a - b);
    const exQty = sumQty(ex.map((t) => t.qty));
    const pgQty = sumQty(pg.map((f) => f.qty));
    if (missing.length === 0 && extra.length === 0 && exQty.eq(pgQty)) continue;
    const order = orderByKey.get(k);
    const cid = order?.clientOrderId ?? pg[0]?.clientOrderId ?? null;
    out.push({
      invariant: 'Postgres fills == exchange trades per order',
      decisionId: cid ? owner(cid, order?.orderId ?? pg[0]?.exchangeOrderId).decisionId : UNKNOWN_DECISION,
      detail: `order ${k} (${cid ?? 'no client order id'}): exchange traded ${exQty.toFixed()} in ${ex.length} trades, Postgres booked ${pgQty.toFixed()} in ${pg.length}`,
      figures: {
        clientOrderId: cid,
        orderStatus: order?.status ?? null,
        exchangeQty: exQty.toFixed(),
        postgresQty: pgQty.toFixed(),
        tradeIdsMissingInPostgres: missing,
        tradeIdsNotOnExchange: extra,
      },
    });
  }
  return out;
}

/** Exactly one `report_type: 'trade'` entry per decision on `trade_executions`. */
export function oneFinalReportPerDecision(s: ChaosSnapshot): Violation[] {
  const byDecision = groupBy(s.streamReports, (r) => r.decisionId);
  const out: Violation[] = [];
  for (const d of s.decisions) {
    const reports = byDecision.get(d.decisionId) ?? [];
    if (reports.length === 1) continue;
    const stored = s.pgReports.filter((r) => r.decisionId === d.decisionId && r.reportType === 'trade');
    out.push({
      invariant: 'exactly one final report per decision',
      decisionId: d.decisionId,
      detail: `${reports.length} final reports on trade_executions (${stored.length} stored in execution_reports, ${stored.filter((r) => r.published).length} marked published)`,
      figures: {
        kind: d.kind,
        streamReports: reports.map((r) => `${r.streamId} ${r.reportId} ${r.status}`),
        storedReports: stored.map((r) => `${r.reportId} ${r.status}${r.published ? '' : ' (unpublished)'}`),
      },
    });
  }
  return out;
}

/**
 * Every trade ended in a terminal status, and one that did not succeed says why. The status and
 * reason are the final report's (what consumers see); without a report, the workflow's own
 * state. "Did not succeed" is the report's `success: false` (cancelled, expired, rejected,
 * failed); a partial fill is a success with a cancelled quantity and needs no error.
 */
export function everyTradeTerminalWithReason(s: ChaosSnapshot): Violation[] {
  const reports = groupBy(s.streamReports, (r) => r.decisionId);
  const outcomes = new Map(s.outcomes.map((o) => [o.workflowId, o]));
  const out: Violation[] = [];
  for (const d of s.decisions) {
    const report = reports.get(d.decisionId)?.at(-1);
    const outcome = outcomes.get(workflowIdOf(d.decisionId));
    const status = report?.status ?? outcome?.tradeStatus;
    const error = report ? report.error : outcome?.error ?? null;
    const success = report ? report.success : status === 'filled' || status === 'partially_filled';
    const figures = {
      kind: d.kind,
      reportStatus: report?.status ?? null,
      reportError: report?.error ?? null,
      workflowStatus: outcome?.tradeStatus ?? null,
      workflowError: outcome?.error ?? null,
      workflowSource: outcome?.source ?? null,
    };
    const base = { invariant: 'every trade terminal with a reason' as const, decisionId: d.decisionId, figures };
    if (status === undefined) out.push({ ...base, detail: 'no final report and no workflow state: the outcome is unknown' });
    else if (!TERMINAL_TRADE_STATUSES.has(status)) out.push({ ...base, detail: `ended in non-terminal status ${status}` });
    else if (!success && !(error && error.trim())) out.push({ ...base, detail: `ended ${status} without a reason (error is ${JSON.stringify(error)})` });
  }
  return out;
}

/** A trade reported `failed` has no order left live on the exchange. */
export function failedTradeHasNoLiveOrder(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const reports = groupBy(s.streamReports, (r) => r.decisionId);
  const outcomes = new Map(s.outcomes.map((o) => [o.workflowId, o]));
  const out: Violation[] = [];
  for (const d of s.decisions) {
    const statuses = new Set([...(reports.get(d.decisionId) ?? []).map((r) => r.status), outcomes.get(workflowIdOf(d.decisionId))?.tradeStatus]);
    if (!statuses.has('failed')) continue;
    const live = s.exchangeOrders.filter((o) => isLive(o) && owner(o.clientOrderId, o.orderId).decisionId === d.decisionId);
    if (live.length === 0) continue;
    out.push({
      invariant: 'a failed trade has no live order',
      decisionId: d.decisionId,
      detail: `trade is failed but ${live.map((o) => `${o.clientOrderId} ${o.status}`).join(', ')} still live on the exchange`,
      figures: { kind: d.kind, live: live.map((o) => ({ clientOrderId: o.clientOrderId, orderId: o.orderId, status: o.status, executedQty: o.executedQty })) },
    });
  }
  return out;
}

/**
 * The final report's filled quantity is what the trade's entry orders executed on the exchange
 * (the portfolio's view equals the venue's). Not in issue 11's list by name; it is the
 * consumer-facing half of "Postgres fills == exchange trades" (issue 11 item 1: a MARKET
 * FILLED on the exchange with a cancelled, filled-0 report).
 */
export function reportedFilledMatchesExchange(s: ChaosSnapshot): Violation[] {
  const owner = ownerIndex(s);
  const reports = groupBy(s.streamReports, (r) => r.decisionId);
  const out: Violation[] = [];
  for (const d of s.decisions) {
    const report = reports.get(d.decisionId)?.at(-1);
    if (!report) continue; // oneFinalReportPerDecision says so
    const orders = entryOrdersOf(s, d, owner);
    const executed = sumQty(orders.map((o) => o.executedQty));
    if (executed.eq(report.filledQuantity)) continue;
    out.push({
      invariant: 'reported filled == executed on the exchange',
      decisionId: d.decisionId,
      detail: `report says ${report.status} with ${dec(report.filledQuantity).toFixed()} filled; the exchange executed ${executed.toFixed()}`,
      figures: {
        kind: d.kind,
        reported: report.filledQuantity,
        executed: executed.toFixed(),
        orders: orders.map((o) => ({ clientOrderId: o.clientOrderId, status: o.status, executedQty: o.executedQty })),
      },
    });
  }
  return out;
}

export const INVARIANTS: ReadonlyArray<{ name: InvariantName; check: (s: ChaosSnapshot) => Violation[] }> = [
  { name: 'one closed workflow per decision', check: oneClosedWorkflowPerDecision },
  { name: 'at most one exchange order per intent', check: atMostOneExchangeOrderPerIntent },
  { name: 'no open exchange order without a running workflow', check: noOpenOrderWithoutRunningWorkflow },
  { name: 'executed <= approved per trade', check: executedWithinApproved },
  { name: 'Postgres fills == exchange trades per order', check: fillsMatchExchangeTrades },
  { name: 'exactly one final report per decision', check: oneFinalReportPerDecision },
  { name: 'every trade terminal with a reason', check: everyTradeTerminalWithReason },
  { name: 'a failed trade has no live order', check: failedTradeHasNoLiveOrder },
  { name: 'reported filled == executed on the exchange', check: reportedFilledMatchesExchange },
];

/** Every invariant over the snapshot: all violations, in invariant order. */
export function checkInvariants(s: ChaosSnapshot): Violation[] {
  return INVARIANTS.flatMap((i) => i.check(s));
}

/** Violations per invariant (every invariant listed, 0 included), for the summary line. */
export function countByInvariant(violations: readonly Violation[]): Record<InvariantName, number> {
  const counts = Object.fromEntries(INVARIANTS.map((i) => [i.name, 0])) as Record<InvariantName, number>;
  for (const v of violations) counts[v.invariant] += 1;
  return counts;
}

/** A readable multi-line account: a count per invariant, then every violation with its figures. */
export function formatViolations(violations: readonly Violation[]): string {
  const counts = countByInvariant(violations);
  const lines = [`${violations.length} invariant violation(s):`];
  for (const [name, n] of Object.entries(counts)) lines.push(`  ${n === 0 ? 'ok  ' : 'FAIL'} ${name}: ${n}`);
  for (const v of violations) {
    lines.push(`- [${v.invariant}] ${v.decisionId}: ${v.detail}`);
    lines.push(`    ${JSON.stringify(v.figures)}`);
  }
  return lines.join('\n');
}
