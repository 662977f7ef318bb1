/**
 * The life of one approved risk decision, as a class the thin TradeExecution workflow drives:
 *
 *   validate against the exchange's rules → submit the entry (exactly once) → follow it until
 *   filled, cancelled or timed out, obeying operator requests → protect the fill with a bracket
 *   if asked → settle fills into the portfolio → publish the execution report.
 *
 * The promises it keeps, whatever fails and whatever an operator does:
 *
 * - Never an orphan. Everything that acts on the exchange (submitting, cancelling, amending, and
 *   the bookkeeping of what came back) runs in a non-cancellable scope: a workflow cancellation
 *   is only ever observed while the trade waits, when every intent sent has been settled. Before
 *   the trade ends, for whatever reason, `windDown` settles every intent whose fate is not known
 *   (waiting out its recvWindow, asking by client order id), cancels what rests and reads back
 *   until each order is final; only then are fills booked and the report published.
 * - Never more than risk approved. An amend that changes the price cancels first and places only
 *   what the exchange says is still unexecuted once the old order is final; one that only reduces
 *   the quantity amends in place (keep priority), atomically against fills. Close-now places
 *   its market order only once every resting entry order is final.
 * - Never a guess. When an order's fate cannot be known (the exchange does not answer), the trade
 *   says so (status `settling`, `attention`), keeps asking, and does not end.
 *
 * Every side effect is an activity; this class only decides. It never sees a credential.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { sideOf, type Side } from '../src/shared/decision-types';
import { dec } from '../src/shared/exact-decimal';
import { FailureType } from '../src/shared/failure-types';
import { isTerminal } from '../src/shared/order-state';
import { SA } from '../src/shared/search-attributes';
import type { FillRecord, OperatorOperation, OrderSnapshot, TrackedOrder, TradeInput, TradeState, TradeStatus } from '../src/shared/trade';
import {
  amendSignal,
  amendUpdate,
  cancelSignal,
  cancelUpdate,
  closeNowSignal,
  closeNowUpdate,
  exchangeOrderUpdateSignal,
  getStateQuery,
  setTimeoutSignal,
  setTimeoutUpdate,
  type AmendRequest,
  type CancelRequest,
  type SetTimeoutRequest,
} from './definitions';
import { validateAmend, validateSetTimeout, validateWorking } from './operator-validation';
import { bracketPlan, closePlan, entryPlan, replacementAfterCancel, restAfter, type OrderPlan } from './order-plans';
import { describeFailure, failureType } from './failures';
import { buildReport, finalTradeStatus } from './report';
import { applyEvent, applySnapshot, trackOrder, transition, type MoveOptions } from './tracked-order';
import type { TradeActivities } from './trade-activities';

/**
 * Poll fallback when push is silent: 1 s, doubling, at most 60 s, so a resting order's cost in
 * exchange weight and history length grows with the log of its age, not linearly. Once the
 * user data stream has delivered an update for an order, push is known to work for it and the
 * fallback only needs to catch a lost stream: it starts at 30 s and grows to 5 min.
 */
const POLL = { firstMs: 1_000, maxMs: 60_000, pushedFirstMs: 30_000, pushedMaxMs: 300_000 };
/**
 * With the coverage check (patch 'push-coverage'): while the worker's user data stream vouches
 * for every working order, the timer only has to notice that the worker itself is gone (its
 * orders are adopted by another worker within a lease anyway), so it starts at 5 min, grows to
 * 30 min and costs no exchange request; an order the stream cannot vouch for is polled with
 * POLL's backoff. The first check comes as soon as the orders are followed: it claims them for
 * this worker before their first event.
 */
const COVERED = { firstMs: 5 * 60_000, maxMs: 30 * 60_000 };
/** A cancel that left the order open (PENDING_CANCEL, or refused) is tried again after this, doubling. */
const CANCEL_RETRY = { firstMs: 2_000, maxMs: 60_000 };
/** Reading back an order that should be final (wind-down): first wait, doubling to the max. */
const CONFIRM = { firstMs: 500, maxMs: 30_000 };
/**
 * What the venue says always wins: an order settled as never placed that turns up, or a cancel
 * the venue did not carry out, moves by the state machine's full table.
 */
const VENUE: MoveOptions = { revive: true };
/** Bracket states in which an order protects nothing. */
const NOT_PROTECTING: ReadonlySet<string> = new Set(['rejected', 'failed', 'not_placed', 'expired']);

export class Trade {
  readonly state: TradeState;
  private readonly pushes: OrderSnapshot[] = [];
  private readonly pushedOrders = new Set<string>();
  /** When each order's venue view was last learned or vouched for (workflow time): the coverage check's `knownSince`. */
  private readonly knownAt = new Map<string, number>();
  /** Whether this run checks coverage before polling; decided when it first follows its orders (patch 'push-coverage'). */
  private checksCoverage: boolean | undefined;
  /** Fills each placement's response listed, by client order id: settleFills books them without myTrades. */
  private readonly placedFills = new Map<string, FillRecord[]>();
  private readonly side: Side;
  private nextCancelAt = 0;
  private cancelBackoffMs = CANCEL_RETRY.firstMs;

  constructor(
    private readonly input: TradeInput,
    private readonly acts: TradeActivities,
  ) {
    const d = input.decision;
    const side = sideOf(d.original_signal);
    if (d.decision === 'reject' || side === undefined) {
      // The bridge never starts these; refuse loudly rather than guess a side.
      throw ApplicationFailure.nonRetryable(`decision ${d.decision_id} has nothing to execute`, FailureType.InvalidDecision);
    }
    this.side = side;
    const startedAt = Date.now();
    this.state = input.resume ?? {
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

  // ---- the operator surface ------------------------------------------------------------------

  registerHandlers(): void {
    const state = this.state;
    setHandler(getStateQuery, () => state);
    setHandler(exchangeOrderUpdateSignal, (snap) => void this.pushes.push(snap));
    setHandler(cancelSignal, (req: CancelRequest) => void this.enqueue('cancel', { reason: req?.reason ?? 'operator signal' }));
    setHandler(cancelUpdate, (req) => this.settled(this.enqueue('cancel', { reason: req?.reason ?? 'operator update' })), {
      validator: (_req: CancelRequest) => validateWorking(state),
    });
    setHandler(amendSignal, (req: AmendRequest) => {
      const op = this.enqueue('amend', { ...req });
      try {
        validateAmend(state, req);
      } catch (err) {
        op.status = 'failed';
        op.result = err instanceof Error ? err.message : String(err);
      }
    });
    setHandler(amendUpdate, (req) => this.settled(this.enqueue('amend', { ...req })), { validator: (req) => validateAmend(state, req) });
    setHandler(closeNowSignal, () => void this.enqueue('closeNow', {}));
    setHandler(closeNowUpdate, () => this.settled(this.enqueue('closeNow', {})), { validator: () => validateWorking(state) });
    setHandler(setTimeoutSignal, (req) => {
      try {
        validateSetTimeout(state, req, Date.now());
        this.applyTimeout(req);
      } catch {
        // A signal has no one to answer; an invalid one changes nothing.
      }
    });
    setHandler(setTimeoutUpdate, (req) => this.applyTimeout(req), { validator: (req) => validateSetTimeout(state, req, Date.now()) });
  }

  private enqueue(kind: OperatorOperation['kind'], args: Record<string, unknown>): OperatorOperation {
    const op: OperatorOperation = { id: this.state.operations.length + 1, kind, args, status: 'pending', at: Date.now() };
    this.state.operations.push(op);
    return op;
  }

  private async settled(op: OperatorOperation): Promise<TradeState> {
    await condition(() => op.status !== 'pending');
    if (op.status === 'failed') throw ApplicationFailure.nonRetryable(op.result ?? `${op.kind} failed`, FailureType.OperationFailed);
    return this.state;
  }

  private applyTimeout(req: SetTimeoutRequest): TradeState {
    this.state.deadline = this.state.startedAt + req.timeoutMs;
    const op = this.enqueue('setTimeout', { timeoutMs: req.timeoutMs });
    op.status = 'done';
    op.result = `deadline ${new Date(this.state.deadline).toISOString()}`;
    return this.state;
  }

  private hasPendingOperation(): boolean {
    return this.state.operations.some((op) => op.status === 'pending');
  }

  // ---- the process ---------------------------------------------------------------------------

  async run(): Promise<TradeState> {
    const state = this.state;
    try {
      if (state.phase === 'entry' && state.orders.length === 0) {
        const protectedEntry = patched('protected-entry');
        const plan = await act(() =>
          this.plan(async () => this.guard(await entryPlan(this.input, state, this.side, this.acts.planner.prepareOrder, { protectedEntry }), { checkAge: true })),
        );
        if (!plan) return await act(() => this.finish());
        // A cancellation that arrived while the plan was made: nothing has been sent yet, so
        // nothing is (acting steps cannot observe it; this is the last moment it costs nothing).
        throwIfCancelled();
        await act(() => this.submit(plan));
      }
      if (state.phase === 'entry') {
        await this.follow(true);
        await act(() => this.protect());
      }
      if (state.phase === 'bracket') await this.follow(false);
      state.phase = 'done';
      return await act(() => this.finish());
    } catch (err) {
      // Continue-as-new hands the trade to the next run; it does not end it.
      if (err instanceof ContinueAsNew) throw err;
      const cancelled = isCancellation(err);
      const why = cancelled ? 'workflow cancelled by operator' : `trade failed: ${describeFailure(err)}`;
      state.error = cancelled ? why : describeFailure(err);
      // Whatever ended the trade, nothing it placed may stay live, and nothing that filled may
      // go unbooked: wind down first, in a scope the cancellation cannot interrupt.
      await CancellationScope.nonCancellable(async () => {
        await this.windDown(why);
        if (!cancelled && state.phase === 'bracket' && state.protection === undefined && patched('unprotected-alerts')) {
          // The entry filled and the failure came while its protection was being planned or placed.
          await this.reportUnprotected('refused', describeFailure(err));
        }
        await this.finish(cancelled ? 'cancelled' : 'failed');
      });
      throw err;
    }
  }

  /** Runs a planning step; a rule violation ends the trade as rejected instead of failing it. */
  private async plan(make: () => Promise<OrderPlan>): Promise<OrderPlan | undefined> {
    try {
      return await make();
    } catch (err) {
      const type = failureType(err);
      if (type !== FailureType.OrderRejected && type !== FailureType.RiskRefused) throw err;
      this.state.error = describeFailure(err);
      if (this.state.phase === 'entry') this.setStatus('rejected');
      return undefined;
    }
  }

  /**
   * Records the intents first (so a crash leaves rows to reconcile), then places them exactly
   * once. An outcome still unknown after the sender's retries is settled by asking the
   * exchange, for as long as it takes; only a refusal that cannot follow an earlier send makes
   * an order `rejected`.
   */
  private async submit(plan: OrderPlan): Promise<void> {
    const state = this.state;
    const orders = plan.orders.map(trackOrder);
    state.orders.push(...orders);
    // A protected entry's pair waits on the exchange (PENDING_NEW) until the entry fills: only the entry is worked.
    state.working = (plan.kind === 'protected' ? orders.slice(0, 1) : orders).map((o) => o.intent.clientOrderId);
    upsertSearchAttributes([{ key: SA.clientOrderId, value: state.orders.map((o) => o.intent.clientOrderId) }]);
    this.setStatus('submitting');
    for (const o of orders) await this.record(o);
    try {
      if (plan.kind === 'single') {
        const placed = await this.acts.sender.placeOrder(plan.orders[0]);
        if (placed.adopted) await this.continueStoredHistoryAsBefore(orders);
        if (placed.fills) this.placedFills.set(orders[0]!.intent.clientOrderId, placed.fills);
        applySnapshot(orders[0]!, placed.order, placed.adopted ? 'adopted existing order' : 'submitted', Date.now(), VENUE);
      } else if (plan.kind === 'list') {
        const placed = await this.acts.sender.placeOrderList(plan.list);
        if (placed.adopted) await this.continueStoredHistoryAsBefore(orders);
        const note = placed.adopted ? 'adopted existing order list' : 'submitted order list';
        applySnapshot(orders[0]!, placed.above, note, Date.now(), VENUE);
        applySnapshot(orders[1]!, placed.below, note, Date.now(), VENUE);
      } else {
        const placed = await this.acts.sender.placeProtectedEntry(plan.list);
        if (placed.fills) this.placedFills.set(orders[0]!.intent.clientOrderId, placed.fills);
        const note = placed.adopted ? 'adopted existing protected entry' : 'submitted with its protection (one order list)';
        applySnapshot(orders[0]!, placed.working, note, Date.now(), VENUE);
        applySnapshot(orders[1]!, placed.above, note, Date.now(), VENUE);
        applySnapshot(orders[2]!, placed.below, note, Date.now(), VENUE);
      }
    } catch (err) {
      const why = describeFailure(err);
      const type = failureType(err);
      if (type === FailureType.ExchangeRejected) {
        for (const o of orders) transition(o, 'rejected', why, Date.now());
      } else {
        await this.settleUnknown(orders, why);
      }
      state.error = why;
    }
    for (const o of orders) await this.record(o);
    if (orders.some((o) => !isTerminal(o.state))) this.setStatus('working');
  }

  /**
   * How a run that began before patch 'stored-history-in-record' continued an adopted order's
   * stored story: one storedTransitions read per order. Runs since get it from recordOrder
   * (see record()), so this is for the replay of those histories only.
   */
  private async continueStoredHistoryAsBefore(orders: TrackedOrder[]): Promise<void> {
    if (patched('stored-history-in-record')) return;
    for (const o of orders) {
      const stored = await this.acts.books.storedTransitions({ clientOrderId: o.intent.clientOrderId });
      const last = stored.at(-1);
      if (!last || stored.length <= o.transitions.length) continue;
      o.transitions = stored;
      o.state = last.to;
    }
  }

  /** Asks the exchange about orders whose submission was never confirmed, until it answers. */
  private async settleUnknown(orders: TrackedOrder[], why: string): Promise<void> {
    const unsettled = orders.filter((o) => !o.exchange && !isTerminal(o.state));
    if (unsettled.length === 0) return;
    this.state.attention = `outcome of ${unsettled.map((o) => o.intent.clientOrderId).join(', ')} unknown (${why}); asking the exchange until it answers`;
    this.setStatus('settling');
    for (const o of unsettled) {
      const found = await this.acts.exchangeReads.findOrder({
        symbol: o.intent.symbol,
        clientOrderId: o.intent.clientOrderId,
        ...(o.intent.listClientOrderId ? { sendLogId: o.intent.listClientOrderId } : {}),
      });
      if (found) applySnapshot(o, found, 'settled unknown outcome by query', Date.now(), VENUE);
      // Absent once its recvWindow has passed: it never reached the matching engine, and never will.
      else applyEvent(o, 'found_absent', `never placed: ${why}`, Date.now());
    }
    this.state.attention = undefined;
  }

  /**
   * Waits until every working order is final. Push (user data stream → signal) is the normal
   * path, polling the fallback. Operator requests and the entry deadline are served in between;
   * the only cancellable step is the wait itself.
   */
  private async follow(withDeadline: boolean): Promise<void> {
    const state = this.state;
    let pollMs = POLL.firstMs;
    this.checksCoverage ??= patched('push-coverage');
    let checkAtOnce = this.checksCoverage;
    for (;;) {
      const pending = state.operations.find((op) => op.status === 'pending');
      if (pending) {
        await act(() => this.perform(pending));
        // An amend or close-now may have placed an order: claim it before its first event.
        checkAtOnce = this.checksCoverage;
        continue;
      }
      const open = this.openWorking();
      if (open.length === 0) return;
      const now = Date.now();
      const remaining = state.deadline - now;
      // Due for a cancel: everything at the deadline, and any order a cancel (ours or an
      // operator's) left open, again with backoff for as long as it stays open.
      const due = withDeadline && remaining <= 0 ? open : open.filter((o) => o.state === 'cancel_requested');
      if (due.length > 0 && now >= this.nextCancelAt) {
        const timedOut = withDeadline && remaining <= 0;
        // An unfilled rest is an outcome with a reason, not an error the report leaves blank.
        if (timedOut) state.error ??= `timed out: not filled within ${state.deadline - state.startedAt} ms; the rest was cancelled`;
        await act(() => this.cancelOrders(due, timedOut ? 'timeout' : 'retrying an earlier cancel'));
        continue;
      }
      const deadlineAtWait = state.deadline;
      let waitMs = pollMs;
      if (this.checksCoverage !== true && open.every((o) => this.pushedOrders.has(o.intent.clientOrderId))) waitMs = Math.max(pollMs, POLL.pushedFirstMs);
      if (withDeadline && remaining > 0) waitMs = Math.min(waitMs, remaining);
      if (due.length > 0) waitMs = Math.min(waitMs, this.nextCancelAt - now);
      const woke = checkAtOnce
        ? false
        : await condition(() => this.pushes.length > 0 || this.hasPendingOperation() || state.deadline !== deadlineAtWait, Math.max(1, waitMs));
      checkAtOnce = false;
      let allCovered = false;
      await act(async () => {
        for (const snap of this.pushes.splice(0)) {
          const order = this.orderById(snap.clientOrderId);
          if (!order) continue;
          this.pushedOrders.add(snap.clientOrderId);
          // The view is as of the event (exchange time), not of when it reached us.
          this.knownAt.set(snap.clientOrderId, Math.min(Date.now(), snap.updateTime ?? Date.now()));
          if (applySnapshot(order, snap, 'push', Date.now(), VENUE)) await this.record(order);
        }
        if (!woke) {
          const working = open.filter((o) => !isTerminal(o.state));
          const toPoll = this.checksCoverage ? await this.pollsNeeded(working) : working;
          allCovered = this.checksCoverage === true && toPoll.length === 0;
          for (const o of toPoll) {
            // Known as of when the read was asked for: what happened while it ran may be missing from it.
            const askedAt = Date.now();
            const snap = await this.acts.exchangeReads.queryOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
            this.knownAt.set(o.intent.clientOrderId, askedAt);
            if (applySnapshot(o, snap, 'poll', Date.now(), VENUE)) await this.record(o);
          }
        }
      });
      if (!woke) {
        if (allCovered) pollMs = Math.min(Math.max(waitMs * 2, COVERED.firstMs), COVERED.maxMs);
        else if (this.checksCoverage) pollMs = Math.min(waitMs * 2, POLL.maxMs);
        else pollMs = Math.min(waitMs * 2, this.pushedOrders.size > 0 ? POLL.pushedMaxMs : POLL.maxMs);
      }
      await this.maybeContinueAsNew();
    }
  }

  /**
   * Asks the worker's user data stream which of these orders it vouches for (push-coverage.ts);
   * applies what it held for them and returns the rest, to be read by REST. A failed check is
   * "none covered": polling is always safe, skipping it only when the stream says so.
   */
  private async pollsNeeded(working: TrackedOrder[]): Promise<TrackedOrder[]> {
    if (working.length === 0) return working;
    const orders = working.map((o) => ({
      symbol: o.intent.symbol,
      clientOrderId: o.intent.clientOrderId,
      knownSince: this.knownAt.get(o.intent.clientOrderId) ?? o.transitions.at(-1)?.at ?? this.state.startedAt,
      ...(o.exchange ? { status: o.exchange.status, executedQty: o.exchange.executedQty } : {}),
    }));
    const askedAt = Date.now();
    let answer: Awaited<ReturnType<TradeActivities['coverage']['coverOrders']>>;
    try {
      answer = await this.acts.coverage.coverOrders({ workflowId: this.state.workflowId, orders });
    } catch {
      return working;
    }
    for (const snap of answer.snapshots) {
      const order = this.orderById(snap.clientOrderId);
      if (order && applySnapshot(order, snap, 'push (held until watched)', Date.now(), VENUE)) await this.record(order);
    }
    const covered = new Set(answer.covered);
    for (const id of covered) this.knownAt.set(id, askedAt);
    return working.filter((o) => !covered.has(o.intent.clientOrderId));
  }

  /**
   * Keeps the history bounded for orders that rest for days. Handlers must have finished, but an
   * update's handler waits for this loop to perform its operation: so an operation still pending
   * is performed first (the loop comes back here afterwards), never waited for.
   */
  private async maybeContinueAsNew(): Promise<void> {
    const info = workflowInfo();
    const limit = this.input.historyEventLimit;
    if (!info.continueAsNewSuggested && !(limit !== undefined && info.historyLength >= limit)) return;
    if (this.hasPendingOperation() || this.hasUnappliedPushes()) return;
    await condition(() => allHandlersFinished() || this.hasPendingOperation());
    if (this.hasPendingOperation() || this.hasUnappliedPushes()) return;
    await continueAsNew<(input: TradeInput) => Promise<TradeState>>({ ...this.input, resume: this.state });
  }

  /**
   * A push that arrived while the loop was acting is applied before rolling over: the new run
   * does not get it (the router forgets an order once its final state is delivered, so no one
   * would send it again). Under 'push-coverage' only: older histories rolled over regardless.
   */
  private hasUnappliedPushes(): boolean {
    return this.checksCoverage === true && this.pushes.length > 0;
  }

  /** Carries out one operator request against the working orders. */
  private async perform(op: OperatorOperation): Promise<void> {
    try {
      switch (op.kind) {
        case 'cancel':
          this.state.error ??= `cancelled by operator: ${String(op.args.reason ?? 'cancel')}`;
          op.result = await this.cancelAll(`operator: ${String(op.args.reason ?? 'cancel')}`);
          break;
        case 'amend':
          op.result = await this.amend(op.args as AmendRequest);
          break;
        case 'closeNow':
          op.result = await this.closeNow();
          break;
        case 'setTimeout':
          break;
      }
      op.status = 'done';
    } catch (err) {
      op.status = 'failed';
      op.result = describeFailure(err);
    }
  }

  private async cancelAll(reason: string): Promise<string> {
    await this.cancelOrders(this.openWorking(), reason);
    const still = this.openWorking();
    if (still.length > 0) {
      throw ApplicationFailure.nonRetryable(`cancel requested, but ${still.map((o) => `${o.intent.clientOrderId} is ${o.state}`).join(', ')}; retrying`, FailureType.OperationFailed);
    }
    return 'working orders cancelled';
  }

  /**
   * Cancels the given orders (lists as lists) and applies what the exchange answers: the final
   * state, a fill that raced the cancel included. An order left open by the answer stays
   * `cancel_requested` and is cancelled again after a backoff by the follow loop.
   */
  private async cancelOrders(orders: TrackedOrder[], reason: string): Promise<void> {
    const open = orders.filter((o) => o.exchange && !isTerminal(o.state));
    if (open.length === 0) return;
    this.setStatus('cancelling');
    const lists = new Set(open.map((o) => o.intent.listClientOrderId).filter((l): l is string => l !== undefined));
    for (const o of open) transition(o, 'cancel_requested', reason, Date.now());
    for (const listId of lists) {
      const legs = this.state.orders.filter((o) => o.intent.listClientOrderId === listId);
      const snaps = await this.acts.canceller.cancelOrderList({
        symbol: this.state.symbol,
        listClientOrderId: listId,
        legs: legs.map((l) => ({ symbol: l.intent.symbol, clientOrderId: l.intent.clientOrderId })),
      });
      for (const snap of snaps) {
        const leg = this.orderById(snap.clientOrderId);
        if (leg) applySnapshot(leg, snap, `cancel (${reason})`, Date.now(), VENUE);
      }
    }
    for (const o of open.filter((x) => x.intent.listClientOrderId === undefined)) {
      const snap = await this.acts.canceller.cancelOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
      applySnapshot(o, snap, `cancel (${reason})`, Date.now(), VENUE);
    }
    for (const o of open) await this.record(o);
    if (open.some((o) => !isTerminal(o.state))) {
      this.nextCancelAt = Date.now() + this.cancelBackoffMs;
      this.cancelBackoffMs = Math.min(this.cancelBackoffMs * 2, CANCEL_RETRY.maxMs);
      this.setStatus('working');
    } else {
      this.cancelBackoffMs = CANCEL_RETRY.firstMs;
    }
  }

  /**
   * Amends the single working order. A quantity reduction alone is done in place, keeping queue
   * priority; the exchange applies it atomically against fills. A new price cancels the order,
   * learns from the final state what really executed, and places only the rest.
   */
  private async amend(req: AmendRequest): Promise<string> {
    const state = this.state;
    validateAmend(state, req);
    const old = this.openWorking()[0]!;
    const newTotal = req.quantity ?? state.targetQty;
    if (req.price === undefined) {
      // The order's own new total: the trade's new total less what other entry orders executed.
      const others = state.orders
        .filter((o) => o !== old && o.intent.purpose !== 'bracket')
        .reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
      const prepared = await this.acts.planner.prepareOrder({
        symbol: old.intent.symbol,
        side: old.intent.side,
        type: old.intent.type,
        quantity: dec(newTotal).minus(others).toFixed(),
        price: old.intent.price,
        stopPrice: old.intent.stopPrice,
      });
      const snap = await this.acts.canceller.amendOrderQuantity({ symbol: old.intent.symbol, clientOrderId: old.intent.clientOrderId, newQty: prepared.quantity });
      applySnapshot(old, snap, 'amend: quantity (priority kept)', Date.now(), VENUE);
      // Same status and executed quantity is no transition, but the order's quantity changed.
      if (old.exchange?.origQty !== snap.origQty) old.exchange = snap;
      await this.record(old);
      if (!dec(snap.origQty).eq(prepared.quantity)) {
        throw ApplicationFailure.nonRetryable(
          `amend refused by the exchange: order ${old.intent.clientOrderId} is ${snap.status}, quantity ${snap.origQty}, executed ${snap.executedQty}`,
          FailureType.OperationFailed,
        );
      }
      state.targetQty = dec(others).plus(prepared.quantity).toFixed();
      return `quantity of ${old.intent.clientOrderId} amended to ${prepared.quantity} in place (queue priority kept)`;
    }
    await this.cancelOrders([old], 'amend');
    if (!isTerminal(old.state)) {
      throw ApplicationFailure.nonRetryable(`amend: ${old.intent.clientOrderId} could not be cancelled yet (${old.state}); nothing replaced`, FailureType.OperationFailed);
    }
    state.targetQty = newTotal;
    const rest = restAfter(state, newTotal);
    if (dec(rest).lte(0)) return `nothing left to re-place: ${old.intent.clientOrderId} executed ${old.exchange?.executedQty ?? '0'} before the cancel`;
    state.counters.replacement += 1;
    const plan = await this.plan(async () =>
      // No age limit for an operator's amend: the decision was in time when the trade began.
      this.guard(await replacementAfterCancel(this.input, state, old, req.price, rest, state.counters.replacement, this.acts.planner.prepareOrder), { checkAge: false }),
    );
    if (!plan) {
      // The rest is below the exchange's minimum (or the guard refused it): the trade keeps what executed.
      if (state.status === 'rejected') this.setStatus('working');
      return `order ${old.intent.clientOrderId} cancelled; the rest (${rest}) cannot be placed: ${state.error ?? 'refused'}`;
    }
    await this.submit(plan);
    return `replaced by ${plan.orders[0].clientOrderId} for the rest, ${plan.orders[0].quantity}`;
  }

  /** Converts the rest to market now: cancel what rests, then buy or sell what is left at market. */
  private async closeNow(): Promise<string> {
    const state = this.state;
    const resting = this.openWorking();
    await this.cancelOrders(resting, 'close now');
    const still = resting.filter((o) => !isTerminal(o.state));
    if (still.length > 0) {
      // Placing the market order now could execute on top of what still rests.
      throw ApplicationFailure.nonRetryable(`close now: ${still.map((o) => o.intent.clientOrderId).join(', ')} not final yet; nothing placed`, FailureType.OperationFailed);
    }
    state.counters.close += 1;
    const phase = state.phase === 'bracket' ? 'bracket' : 'entry';
    const plan = await closePlan(this.input, state, this.side, phase, state.counters.close, this.acts.planner.prepareOrder);
    if (!plan) return 'nothing left to close';
    await this.submit(plan);
    return `market order ${plan.orders[0]!.clientOrderId} placed`;
  }

  /**
   * After the entry: protect what it bought with the bracket the decision asked for. A refused
   * bracket does not end the trade silently: the report says `protection_status: refused`, the
   * trade's error says why, and an alert is raised, because the position is now unprotected.
   */
  private async protect(): Promise<void> {
    const state = this.state;
    const d = this.input.decision;
    const wants = d.stop_loss !== undefined || d.take_profit !== undefined;
    if (!wants || !dec(this.executedIn('entry')).gt(0)) {
      state.phase = 'done';
      return;
    }
    state.phase = 'bracket';
    const entryError = state.error;
    if (await this.protectedByList()) {
      state.protection = { status: 'placed' };
      state.error = entryError;
      return;
    }
    const plan = await this.plan(async () => bracketPlan(this.input, state, this.side, await this.heldAfterFees(), this.acts.planner.prepareOrder));
    // (Runs in act(): a cancellation cannot be observed here; the next wait sees it and winds down.)
    if (plan) await this.submit(plan);
    const bracket = state.orders.filter((o) => o.intent.purpose === 'bracket');
    const placed = plan !== undefined && bracket.some((o) => o.exchange !== undefined && !NOT_PROTECTING.has(o.state));
    if (placed) {
      state.protection = { status: 'placed' };
      state.error = entryError;
      return;
    }
    state.phase = 'done';
    await this.reportUnprotected('refused', state.error ?? 'the bracket was not placed');
  }

  /**
   * A protected entry (order-plans.ts protectedPlan): when the entry filled completely, the
   * exchange placed the pair in that same matching step, and the pair is now what the trade
   * follows. An entry that ended otherwise took its pending pair with it (the exchange cancels
   * or expires them together); then, as after an unprotected entry, the bracket is placed for
   * what did fill. Returns whether the pair is live.
   */
  private async protectedByList(): Promise<boolean> {
    const state = this.state;
    const entry = state.orders.find((o) => o.intent.purpose === 'entry' && o.intent.listClientOrderId !== undefined && o.intent.type === 'LIMIT');
    if (!entry) return false;
    const pair = state.orders.filter((o) => o.intent.purpose === 'bracket' && o.intent.listClientOrderId === entry.intent.listClientOrderId);
    // The placement response showed the pair PENDING_NEW; read it again unless a push already said more.
    for (const leg of pair.filter((o) => !isTerminal(o.state) && o.exchange?.status === 'PENDING_NEW')) {
      const snap = await this.acts.exchangeReads.queryOrder({ symbol: leg.intent.symbol, clientOrderId: leg.intent.clientOrderId });
      this.knownAt.set(leg.intent.clientOrderId, Date.now());
      if (applySnapshot(leg, snap, 'protection placed by the exchange at the entry fill', Date.now(), VENUE)) await this.record(leg);
    }
    if (entry.state === 'filled') {
      // The pair went on the book with the fill. It is the protection whatever it has done since
      // (triggered, part-filled, one leg filled and the other expired): it is followed, never
      // cancelled or bracketed again. Only a pair the exchange ended without executing anything
      // (it could not place it: funds) leaves the position to a bracket placed after.
      const acted = pair.some((o) => !isTerminal(o.state) || dec(o.exchange?.executedQty ?? '0').gt(0));
      if (!acted) return false;
      state.working = pair.map((o) => o.intent.clientOrderId);
      const qty = pair.find((o) => o.exchange && dec(o.exchange.origQty).gt(0))?.exchange?.origQty;
      if (qty !== undefined) state.bracketQty = qty;
      return true;
    }
    // The entry did not fill completely: the exchange took the pair with it. Nothing of it may
    // stay live; wind it down (cancel, read back, for as long as it takes) before a new bracket.
    if (pair.some((o) => !isTerminal(o.state))) await this.windDown('protected entry ended without its pair');
    return false;
  }

  /** The position the entry bought is not protected: the report says why, and a person is alerted. */
  private async reportUnprotected(status: 'refused' | 'cancelled' | 'expired', reason: string): Promise<void> {
    const state = this.state;
    state.protection = { status, reason };
    state.error = `unprotected: the protective bracket was ${status} (${reason})`;
    await this.acts.books.raiseAlert({
      kind: 'unprotected_position',
      severity: 'critical',
      message: `${state.symbol} ${state.side} trade ${state.decisionId}: the entry filled but its protective bracket was ${status} (${reason}); the position is unprotected`,
      detail: { decisionId: state.decisionId, workflowId: state.workflowId, symbol: state.symbol, reason },
      dedupeKey: `unprotected:${state.workflowId}`,
    });
  }

  /**
   * Makes sure nothing this trade placed is left live and unmanaged: settles every intent whose
   * fate is unknown, cancels whatever rests, and reads back until every order is final. Reads and
   * cancels retry for as long as the exchange needs; the trade does not end before this does.
   */
  private async windDown(reason: string): Promise<void> {
    const state = this.state;
    await this.settleUnknown(state.orders, reason);
    for (const o of state.orders) if (!isTerminal(o.state)) await this.record(o);
    let waitMs = CONFIRM.firstMs;
    for (;;) {
      const live = state.orders.filter((o) => o.exchange && !isTerminal(o.state));
      if (live.length === 0) break;
      const cancellable = live.filter((o) => o.state !== 'cancel_requested' || Date.now() >= this.nextCancelAt);
      if (cancellable.length > 0) await this.cancelOrders(cancellable, reason);
      for (const o of state.orders.filter((x) => x.exchange && !isTerminal(x.state))) {
        const snap = await this.acts.exchangeReads.queryOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
        if (applySnapshot(o, snap, `confirming final state (${reason})`, Date.now(), VENUE)) await this.record(o);
      }
      if (state.orders.every((o) => !o.exchange || isTerminal(o.state))) break;
      state.attention = `waiting for ${live.map((o) => o.intent.clientOrderId).join(', ')} to be final on the exchange (${reason})`;
      this.setStatus('settling');
      await condition(() => false, waitMs);
      waitMs = Math.min(waitMs * 2, CONFIRM.maxMs);
    }
    state.attention = undefined;
  }

  /**
   * The pre-trade risk guard, for what the trade opens (the entry and an amend's replacement),
   * after the plan is validated against the exchange's rules. Protective brackets and close-now
   * reduce risk and are never held back by it. Each intent is judged by its client order id, so
   * one that was already sent (a reset made the same plan again) is never refused afterwards.
   */
  private async guard(plan: OrderPlan, options: { checkAge: boolean }): Promise<OrderPlan> {
    const d = this.input.decision;
    // A protected entry's pair reduces risk like any bracket: only what opens is judged.
    for (const o of plan.orders.filter((x) => x.purpose !== 'bracket')) {
      await this.acts.planner.checkPreTradeRisk({
        decisionId: this.state.decisionId,
        clientOrderId: o.clientOrderId,
        sendLogId: o.listClientOrderId ?? o.clientOrderId,
        ...(options.checkAge ? { decisionTimestamp: d.timestamp, decisionOrderType: d.order_type } : {}),
        symbol: o.symbol,
        side: o.side,
        type: o.type,
        quantity: o.quantity,
        price: o.price,
        stopPrice: o.stopPrice,
        // The guard values the order at its price, or at the mark for a MARKET order.
        notional: '0',
      });
    }
    return plan;
  }

  // ---- bookkeeping ---------------------------------------------------------------------------

  /** Records the order's transitions (and reports them); moves the state machine refused since the last call are logged and counted there. */
  private async record(order: TrackedOrder): Promise<void> {
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

  private async finish(override?: 'cancelled' | 'failed'): Promise<TradeState> {
    const state = this.state;
    // A request accepted just as the last order closed has nothing left to act on: answer it.
    for (const op of state.operations.filter((o) => o.status === 'pending')) {
      op.status = 'failed';
      op.result = `the trade ended (${state.status}) before the ${op.kind} could be carried out`;
    }
    try {
      await this.settleAll();
    } catch (err) {
      // On the way out of a failure, a books refusal (BooksRejectedFills) must not swallow the
      // report: it goes out failed, naming both. Otherwise the refusal fails the trade first.
      if (override !== 'failed') throw err;
      state.error = `${state.error ?? 'trade failed'}; fills not booked: ${describeFailure(err)}`;
    }
    if (patched('unprotected-alerts')) await this.noteLostProtection();
    state.finishedAt = Date.now();
    const status: TradeStatus = override === 'failed' && !dec(this.executedIn('entry')).gt(0) ? 'failed' : finalTradeStatus(state, override === 'cancelled' ? 'cancelled' : undefined);
    if (status === 'expired' || status === 'partially_filled') state.error ??= expiryReason(state);
    this.setStatus(status);
    const report = buildReport(this.input, state, 1);
    await this.acts.books.publishReport(report);
    await this.acts.books.recordDecisionOutcome({ decisionId: state.decisionId, status: report.success ? 'completed' : 'failed', error: state.error });
    return state;
  }

  /**
   * A bracket cancelled before any of it filled (the workflow or the trade was cancelled in the
   * bracket phase) leaves the position unprotected: the report says so and an alert is raised.
   */
  private async noteLostProtection(): Promise<void> {
    const state = this.state;
    if (state.protection?.status !== 'placed') return;
    const bracket = state.orders.filter((o) => o.intent.purpose === 'bracket' && o.exchange);
    const filledAny = bracket.some((o) => dec(o.exchange!.executedQty).gt(0));
    if (filledAny || !bracket.every((o) => isTerminal(o.state))) return;
    const inMatch = bracket.find((o) => o.exchange?.status === 'EXPIRED_IN_MATCH');
    if (inMatch) {
      // A stop that expired in match closed nothing: the position is still there, unprotected.
      await this.reportUnprotected('expired', `${inMatch.intent.clientOrderId} expired in match (self-trade prevention) before it closed the position`);
      return;
    }
    if (!bracket.some((o) => o.state === 'cancelled')) return;
    await this.reportUnprotected('cancelled', state.error ?? 'the protective bracket was cancelled before it filled');
  }

  private async settleAll(): Promise<void> {
    for (const order of this.state.orders) {
      if (order.exchange && dec(order.exchange.executedQty).gt(order.fills.filledQty)) {
        const known = this.placedFills.get(order.intent.clientOrderId);
        order.fills = await this.acts.settlement.settleFills({
          ...(known ? { fills: known } : {}),
          decisionId: this.state.decisionId,
          workflowId: this.state.workflowId,
          symbol: order.intent.symbol,
          orderId: order.exchange.orderId,
          clientOrderId: order.intent.clientOrderId,
          expectedQty: order.exchange.executedQty,
        });
      }
    }
  }

  /** The entry's filled base quantity less commission charged in the base asset. */
  private async heldAfterFees(): Promise<string> {
    await this.settleAll();
    const base = this.state.assets?.base;
    let held = dec(0);
    for (const o of this.state.orders.filter((x) => x.intent.purpose !== 'bracket')) {
      const sign = o.intent.side === this.side ? 1 : -1;
      held = held.plus(dec(o.fills.filledQty).mul(sign));
      if (o.intent.side === 'BUY') held = held.minus((base && o.fills.commissions[base]) || '0');
    }
    return held.toFixed();
  }

  // ---- views ---------------------------------------------------------------------------------

  private orderById(cid: string): TrackedOrder | undefined {
    return this.state.orders.find((o) => o.intent.clientOrderId === cid);
  }

  private openWorking(): TrackedOrder[] {
    return this.state.working
      .map((cid) => this.orderById(cid))
      .filter((o): o is TrackedOrder => o !== undefined && !isTerminal(o.state));
  }

  private executedIn(phase: 'entry' | 'bracket'): string {
    const inPhase = this.state.orders.filter((o) => (phase === 'bracket' ? o.intent.purpose === 'bracket' : o.intent.purpose !== 'bracket'));
    return inPhase.reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0)).toFixed();
  }

  private setStatus(status: TradeStatus): void {
    if (this.state.status === status) return;
    this.state.status = status;
    upsertSearchAttributes([{ key: SA.status, value: status }]);
    upsertMemo({ summary: summaryLine(this.state) });
  }
}

/** Observes a workflow cancellation that arrived during a non-cancellable step. */
function throwIfCancelled(): void {
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('workflow cancelled by operator');
}

/** Runs a step that acts on the exchange or the books: a workflow cancellation waits for it. */
function act<T>(fn: () => Promise<T>): Promise<T> {
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

/** Why the exchange expired an entry order, when nothing else gave the trade a reason. */
function expiryReason(state: TradeState): string | undefined {
  const expired = state.orders.filter((o) => o.intent.purpose !== 'bracket' && (o.exchange?.status === 'EXPIRED' || o.exchange?.status === 'EXPIRED_IN_MATCH'));
  const inMatch = expired.find((o) => o.exchange?.status === 'EXPIRED_IN_MATCH');
  if (inMatch) {
    return `${inMatch.intent.clientOrderId} expired in match: self-trade prevention (selfTradePreventionMode, BINANCE_STP_MODE) stopped it trading against another order of this account; executed ${inMatch.exchange!.executedQty}`;
  }
  const first = expired[0];
  if (!first) return undefined;
  // The exchange's own reason when it gave one (expiryReason); else only what is known.
  const why = first.exchange!.expiryReason ?? 'no reason given by the exchange';
  return `${first.intent.clientOrderId} (${first.intent.type}${first.intent.timeInForce ? ` ${first.intent.timeInForce}` : ''}) expired on the exchange: ${why}; executed ${first.exchange!.executedQty}`;
}
