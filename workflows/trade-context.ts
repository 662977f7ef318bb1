/**
 * What every part of a trade shares: its input, its activities, its state, what the user data
 * stream has pushed, and the bookkeeping every step does (recording an order's transitions,
 * publishing the trade's status). The parts (placement, cancels, the follow loop, operator
 * operations, protection, the ending) each hold this one object; none keeps a copy of the state.
 */
import { CancellationScope, CancelledFailure, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Side } from '../src/shared/decision-types';
import { dec } from '../src/shared/exact-decimal';
import { isTerminal } from '../src/shared/order-state';
import { SA } from '../src/shared/search-attributes';
import type { FillRecord, OrderSnapshot, TrackedOrder, TradeInput, TradeState, TradeStatus } from '../src/shared/trade';
import type { MoveOptions } from './tracked-order';
import type { TradeActivities } from './trade-activities';

/**
 * What the venue says always wins: an order settled as never placed that turns up, or a cancel
 * the venue did not carry out, moves by the state machine's full table.
 */
export const VENUE: MoveOptions = { revive: true };

/** The state a new trade starts from (a continued run resumes the one it was handed instead). */
export function initialTradeState(input: TradeInput, side: Side): TradeState {
  const d = input.decision;
  const startedAt = Date.now();
  return {
    workflowId: workflowInfo().workflowId,
    decisionId: d.decision_id,
    symbol: d.symbol,
    side,
    status: 'validating',
    phase: 'entry',
    targetQty: d.approved_size,
    approvedQty: d.approved_size,
    working: [],
    counters: { replacement: 0, close: 0, bracket: 0 },
    deadline: startedAt + (d.timeout_ms ?? input.defaultOrderTimeoutMs),
    operations: [],
    orders: [],
    startedAt,
  };
}

export class TradeContext {
  /** Order updates pushed by the worker's user data stream listener, not yet applied. */
  readonly pushes: OrderSnapshot[] = [];
  /** Orders the stream has delivered at least one update for: push is known to work for them. */
  readonly pushedOrders = new Set<string>();
  /** When each order's venue view was last learned or vouched for (workflow time): the coverage check's `knownSince`. */
  readonly knownAt = new Map<string, number>();
  /** Fills each placement's response listed, by client order id: settleFills books them without myTrades. */
  readonly placedFills = new Map<string, FillRecord[]>();

  constructor(
    readonly input: TradeInput,
    readonly acts: TradeActivities,
    readonly state: TradeState,
    readonly side: Side,
  ) {}

  /** Records the order's transitions (and reports them); moves the state machine refused since the last call are logged and counted there. */
  async record(order: TrackedOrder): Promise<void> {
    const reported = order.refusedReported ?? 0;
    const refusedSinceLast = (order.refused ?? []).filter((r) => r.seq > reported);
    const stored = await this.acts.books.recordOrder({ decisionId: this.state.decisionId, workflowId: this.state.workflowId, order, refusedSinceLast });
    if (refusedSinceLast.length > 0) order.refusedReported = refusedSinceLast.at(-1)!.seq;
    // An earlier run (before a reset) recorded this intent's story: continue it, never contradict it.
    const last = stored?.at(-1);
    if (stored && last && stored.length > order.transitions.length) {
      order.transitions = stored;
      order.state = last.to;
    }
  }

  setStatus(status: TradeStatus): void {
    if (this.state.status === status) return;
    this.state.status = status;
    upsertSearchAttributes([{ key: SA.status, value: status }]);
    upsertMemo({ summary: summaryLine(this.state) });
  }

  // ---- views ---------------------------------------------------------------------------------

  orderById(cid: string): TrackedOrder | undefined {
    return this.state.orders.find((o) => o.intent.clientOrderId === cid);
  }

  openWorking(): TrackedOrder[] {
    return this.state.working
      .map((cid) => this.orderById(cid))
      .filter((o): o is TrackedOrder => o !== undefined && !isTerminal(o.state));
  }

  executedIn(phase: 'entry' | 'bracket'): string {
    const inPhase = this.state.orders.filter((o) => (phase === 'bracket' ? o.intent.purpose === 'bracket' : o.intent.purpose !== 'bracket'));
    return inPhase.reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0)).toFixed();
  }
}

/** A part of a trade (placement, cancels, the follow loop, ...): it holds the trade's one context and reads the state through it. */
export abstract class TradePart {
  constructor(protected readonly ctx: TradeContext) {}

  protected get state(): TradeState {
    return this.ctx.state;
  }
}

/** Observes a workflow cancellation that arrived during a non-cancellable step. */
export function throwIfCancelled(): void {
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('workflow cancelled by operator');
}

/** Runs a step that acts on the exchange or the books: a workflow cancellation waits for it. */
export function act<T>(fn: () => Promise<T>): Promise<T> {
  return CancellationScope.nonCancellable(fn);
}

function summaryLine(state: TradeState): string {
  const entry = state.orders[0];
  const filled = state.orders.reduce((acc, o) => acc.plus(o.intent.purpose === 'bracket' ? 0 : o.exchange?.executedQty ?? '0'), dec(0));
  const note = state.attention ? ` (${state.attention})` : '';
  return `${state.side} ${filled.toFixed()}/${state.targetQty} ${state.symbol} ${entry?.intent.type ?? ''} — ${state.status}${note}`
    .replace(/\s+/g, ' ')
    .trim();
}
