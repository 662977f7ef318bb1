/**
 * FROZEN: TradeExecution as it ran up to release bc28240 ("v2" histories). Executions that began
 * under it replay through it unchanged (see workflows/trade-execution.ts, patch `trade-v3`);
 * new executions run the Trade class. Do not edit: any change here can break a running
 * workflow's replay. Fixes belong in workflows/trade.ts. Like the plans, reports and validators it
 * has always imported, it shares the current pure helpers (the initial state, the failure chain
 * walk); the replay tests over the saved v2 histories (test/replay) are what hold them to it.
 *
 * TradeExecution: the life of one approved risk decision.
 *
 *   validate against the exchange's rules → submit the entry (exactly once) → follow it until
 *   filled, cancelled or timed out, obeying operator requests → protect the fill with a bracket
 *   if asked → settle fills into the portfolio → publish the execution report.
 *
 * Every side effect is an activity. The workflow only decides; it never talks to the exchange,
 * the database or Redis itself, and it never sees a credential.
 */
import {
  type ActivityOptions,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { sideOf } from '../../src/shared/decision-types';
import { dec } from '../../src/shared/exact-decimal';
import { isTerminal } from '../../src/shared/order-state';
import { SA } from '../../src/shared/search-attributes';
import type { OperatorOperation, OrderSnapshot, TrackedOrder, TradeInput, TradeState } from '../../src/shared/trade';
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
} from '../definitions';
import { describeFailure, failureType } from '../failures';
import { buildReport, finalTradeStatus } from '../report';
import { initialTradeState } from '../trade-context';
import { applySnapshot, trackOrder, transition } from '../tracked-order';
import { bracketPlan, closePlan, entryPlan, replacementIntent, type OrderPlan } from '../order-plans';
import { validateAmend, validateSetTimeout, validateWorking } from '../operator-validation';

/** Error types from activities that no retry can fix. */
const NON_RETRYABLE_ERRORS = ['OrderRejected', 'InvalidDecision', 'ExchangeRejected'];

// Exchange calls: bounded retries with backoff. Submission is safe to retry because the activity
// settles an unknown outcome by querying the client order id before it sends again.
const EXCHANGE_CALLS = {
  startToCloseTimeout: '30s',
  // Activities that wait (out a recvWindow) heartbeat; a dead worker is noticed within this.
  heartbeatTimeout: '10s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
} satisfies ActivityOptions;
const exchange = proxyActivities<Activities>(EXCHANGE_CALLS);
const { heartbeatTimeout: _remoteOnly, ...EXCHANGE_CALLS_LOCAL } = EXCHANGE_CALLS;

// Bookkeeping (Postgres, Redis) must eventually succeed: no attempt limit, patient backoff.
const BOOKKEEPING = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', nonRetryableErrorTypes: ['InvalidDecision', 'PositionConflict'] },
} satisfies ActivityOptions;
const remoteBooks = proxyActivities<Activities>(BOOKKEEPING);
/**
 * The same, run as local activities: in the worker that runs the workflow task, with the result
 * recorded in the task's completion. A run of them (validate + record before a submission;
 * report + outcome after the fills are settled) costs one workflow task instead of one task and
 * one activity round trip each. They are short, idempotent and cheap to repeat; one interrupted
 * by a crash, or whose task completion the server refused, simply runs again. Submissions stay
 * ordinary activities (they heartbeat and may wait out a recvWindow), and so does settleFills.
 */
const localBooks = proxyLocalActivities<Activities>({ ...BOOKKEEPING, localRetryThreshold: '10s' });
const localPrepare = proxyLocalActivities<Activities>({ ...EXCHANGE_CALLS_LOCAL }).prepareOrder;

/**
 * Poll fallback when push is silent: 1 s, doubling, at most 60 s, so a resting order's cost in
 * exchange weight and history length grows with the log of its age, not linearly. Once the
 * user data stream has delivered an update for an order, push is known to work for it and the
 * fallback only needs to catch a lost stream: it starts at 30 s and grows to 5 min.
 */
const POLL = { firstMs: 1_000, maxMs: 60_000, pushedFirstMs: 30_000, pushedMaxMs: 300_000 };

export async function tradeExecutionV2(input: TradeInput): Promise<TradeState> {
  const d = input.decision;
  // Histories from before local bookkeeping ran every step as an ordinary activity; they keep to it.
  const localBookkeeping = patched('local-bookkeeping');
  const books = localBookkeeping ? localBooks : remoteBooks;
  const prepareOrder = localBookkeeping ? localPrepare : exchange.prepareOrder;
  // Order-sending activities may have a task queue of their own (see TradeInput.orderTaskQueue).
  const send = input.orderTaskQueue ? proxyActivities<Activities>({ ...EXCHANGE_CALLS, taskQueue: input.orderTaskQueue }) : exchange;
  const info = workflowInfo();
  const side = sideOf(d.original_signal);
  if (d.decision === 'reject' || side === undefined) {
    // The bridge never starts these; refuse loudly rather than guess a side.
    throw ApplicationFailure.nonRetryable(`decision ${d.decision_id} has nothing to execute`, 'InvalidDecision');
  }
  const state: TradeState = input.resume ?? initialTradeState(input, side);
  const pushes: OrderSnapshot[] = [];
  const pushedOrders = new Set<string>();

  // ---- operator surface -------------------------------------------------------------------
  setHandler(getStateQuery, () => state);
  setHandler(exchangeOrderUpdateSignal, (snap) => void pushes.push(snap));
  const enqueue = (kind: OperatorOperation['kind'], args: Record<string, unknown>): OperatorOperation => {
    const op: OperatorOperation = { id: state.operations.length + 1, kind, args, status: 'pending', at: Date.now() };
    state.operations.push(op);
    return op;
  };
  const settled = async (op: OperatorOperation): Promise<TradeState> => {
    await condition(() => op.status !== 'pending');
    if (op.status === 'failed') throw ApplicationFailure.nonRetryable(op.result ?? `${op.kind} failed`, 'OperationFailed');
    return state;
  };
  setHandler(cancelSignal, (req: CancelRequest) => void enqueue('cancel', { reason: req?.reason ?? 'operator signal' }));
  setHandler(cancelUpdate, (req) => settled(enqueue('cancel', { reason: req?.reason ?? 'operator update' })), {
    validator: (_req: CancelRequest) => validateWorking(state),
  });
  setHandler(amendSignal, (req: AmendRequest) => {
    try {
      validateAmend(state, req);
      enqueue('amend', { ...req });
    } catch (err) {
      enqueue('amend', { ...req }).status = 'failed';
      state.operations[state.operations.length - 1]!.result = err instanceof Error ? err.message : String(err);
    }
  });
  setHandler(amendUpdate, (req) => settled(enqueue('amend', { ...req })), { validator: (req) => validateAmend(state, req) });
  setHandler(closeNowSignal, () => void enqueue('closeNow', {}));
  setHandler(closeNowUpdate, () => settled(enqueue('closeNow', {})), { validator: () => validateWorking(state) });
  const applyTimeout = (req: SetTimeoutRequest) => {
    state.deadline = state.startedAt + req.timeoutMs;
    const op = enqueue('setTimeout', { timeoutMs: req.timeoutMs });
    op.status = 'done';
    op.result = `deadline ${new Date(state.deadline).toISOString()}`;
    return state;
  };
  setHandler(setTimeoutSignal, (req) => {
    try {
      validateSetTimeout(state, req, Date.now());
      applyTimeout(req);
    } catch {
      // A signal has no one to answer; an invalid one changes nothing.
    }
  });
  setHandler(setTimeoutUpdate, applyTimeout, { validator: (req) => validateSetTimeout(state, req, Date.now()) });

  const setStatus = (status: TradeState['status']) => {
    if (state.status === status) return;
    state.status = status;
    upsertSearchAttributes([{ key: SA.status, value: status }]);
    upsertMemo({ summary: summaryLine(state) });
  };
  const record = (order: TrackedOrder) => books.recordOrder({ decisionId: d.decision_id, workflowId: info.workflowId, order });
  const orderById = (cid: string) => state.orders.find((o) => o.intent.clientOrderId === cid);
  const workingOrders = () => state.working.map(orderById).filter((o): o is TrackedOrder => o !== undefined);

  // ---- the process ------------------------------------------------------------------------
  try {
    if (state.phase === 'entry' && state.orders.length === 0) {
      const plan = await validate(() => entryPlan(input, state, side, prepareOrder));
      if (!plan) return await finish();
      await submit(plan);
    }
    if (state.phase === 'entry') {
      await followWorking(true);
      state.phase = wantsBracket() && dec(executedIn('entry')).gt(0) ? 'bracket' : 'done';
      if (state.phase === 'bracket') {
        const plan = await validate(async () => {
          const held = await heldAfterFees();
          return bracketPlan(input, state, side, held, prepareOrder);
        });
        if (plan) await submit(plan);
        else state.phase = 'done';
      }
    }
    if (state.phase === 'bracket') await followWorking(false);
    state.phase = 'done';
    return await finish();
  } catch (err) {
    // Continue-as-new is thrown through here; it hands the trade to the next run, it does not
    // end it. Earlier code reported the trade failed on the way out (and the real outcome was
    // then deduplicated away), so only executions with this marker take the fixed path.
    if (err instanceof ContinueAsNew && patched('continue-as-new-is-not-an-outcome')) throw err;
    if (isCancellation(err)) {
      // Cancelled from the UI or `temporal workflow cancel`: the clean-up must still reach the
      // exchange, so it runs in a scope that the cancellation cannot interrupt.
      await CancellationScope.nonCancellable(async () => {
        await cancelWorking('workflow cancelled by operator');
        state.error = 'workflow cancelled by operator';
        await finish('cancelled');
      });
      throw err;
    }
    state.error = describeFailure(err);
    const abandoned = state.orders.filter((o) => !isTerminal(o.state));
    for (const order of abandoned) transition(order, 'failed', state.error, Date.now());
    // Every transition is recorded and reported, the last one too (v1 histories did not).
    if (patched('record-failed-orders')) for (const order of abandoned) await record(order);
    await finish('failed');
    throw err;
  }

  // ---- steps ------------------------------------------------------------------------------

  /** Runs a planning step; a rule violation ends the trade as rejected instead of failing it. */
  async function validate(plan: () => Promise<OrderPlan>): Promise<OrderPlan | undefined> {
    try {
      return await plan();
    } catch (err) {
      if (isCancellation(err) || failureType(err) !== 'OrderRejected') throw err;
      state.error = describeFailure(err);
      if (state.phase === 'entry') setStatus('rejected');
      return undefined;
    }
  }

  /** Records the intent first (so a crash leaves a row to reconcile), then places it exactly once. */
  async function submit(plan: OrderPlan): Promise<void> {
    const orders = plan.orders.map(trackOrder);
    state.orders.push(...orders);
    state.working = orders.map((o) => o.intent.clientOrderId);
    upsertSearchAttributes([{ key: SA.clientOrderId, value: state.orders.map((o) => o.intent.clientOrderId) }]);
    setStatus('submitting');
    for (const o of orders) await record(o);
    try {
      if (plan.kind === 'single') {
        const placed = await send.placeOrder(plan.orders[0]!);
        applySnapshot(orders[0]!, placed.order, placed.adopted ? 'adopted existing order' : 'submitted', Date.now());
      } else if (plan.kind === 'list') {
        const placed = await send.placeOrderList(plan.list);
        const note = placed.adopted ? 'adopted existing order list' : 'submitted order list';
        applySnapshot(orders[0]!, placed.above, note, Date.now());
        applySnapshot(orders[1]!, placed.below, note, Date.now());
      } else {
        throw new Error('v2 trades never plan a protected entry');
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      const why = describeFailure(err);
      const rejected = failureType(err) === 'ExchangeRejected' || failureType(err) === 'OrderRejected';
      if (!rejected) {
        // Retries exhausted on an unknown outcome: the order may or may not exist. Ask until we know.
        for (const o of orders) {
          // An ordinary activity: it waits out the recvWindow, which may outlast a local activity's budget.
          const found = await remoteBooks.findOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
          if (found) applySnapshot(o, found, 'settled unknown outcome by query', Date.now());
        }
      }
      for (const o of orders) if (o.state === 'new') transition(o, rejected ? 'rejected' : 'failed', why, Date.now());
      state.error = why;
    }
    for (const o of orders) await record(o);
    if (orders.some((o) => !isTerminal(o.state))) setStatus('working');
  }

  /**
   * Waits until every working order is final. Push (user data stream → signal) is the normal
   * path; polling the fallback. Operator requests and the entry deadline are served in between.
   */
  async function followWorking(withDeadline: boolean): Promise<void> {
    // v1 histories polled on one schedule whatever pushes arrived; keep replaying them as they ran.
    const pushAware = patched('push-aware-polling');
    let pollMs = POLL.firstMs;
    for (;;) {
      const open = workingOrders().filter((o) => !isTerminal(o.state));
      const pending = state.operations.find((op) => op.status === 'pending');
      if (pending) {
        await perform(pending);
        continue;
      }
      if (open.length === 0) return;
      const remaining = state.deadline - Date.now();
      if (withDeadline && remaining <= 0 && !open.every((o) => o.state === 'cancel_requested')) {
        await cancelWorking('timeout');
        continue;
      }
      const deadlineAtWait = state.deadline;
      let waitMs = pollMs;
      if (pushAware && open.every((o) => pushedOrders.has(o.intent.clientOrderId))) {
        waitMs = Math.max(pollMs, POLL.pushedFirstMs);
      }
      if (withDeadline && remaining > 0) waitMs = Math.min(waitMs, remaining);
      const woke = await condition(
        () => pushes.length > 0 || state.operations.some((op) => op.status === 'pending') || state.deadline !== deadlineAtWait,
        Math.max(1, waitMs),
      );
      for (const snap of pushes.splice(0)) {
        const order = orderById(snap.clientOrderId);
        if (!order) continue;
        pushedOrders.add(snap.clientOrderId);
        if (applySnapshot(order, snap, 'push', Date.now())) await record(order);
      }
      if (!woke) {
        for (const o of open) {
          if (isTerminal(o.state)) continue;
          const snap = await exchange.queryOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
          if (applySnapshot(o, snap, 'poll', Date.now())) await record(o);
        }
        pollMs = Math.min(waitMs * 2, pushAware && pushedOrders.size > 0 ? POLL.pushedMaxMs : POLL.maxMs);
      }
      const wi = workflowInfo();
      if (wi.continueAsNewSuggested || (input.historyEventLimit !== undefined && wi.historyLength >= input.historyEventLimit)) {
        // Keep the history bounded for orders that rest for days; handlers must finish first.
        await condition(allHandlersFinished);
        await continueAsNew<typeof tradeExecutionV2>({ ...input, resume: state });
      }
    }
  }

  /** Carries out one operator request against the working orders. */
  async function perform(op: OperatorOperation): Promise<void> {
    try {
      switch (op.kind) {
        case 'cancel':
          await cancelWorking(`operator: ${String(op.args.reason ?? 'cancel')}`);
          op.result = 'working orders cancelled';
          break;
        case 'amend':
          op.result = await amend(op.args as AmendRequest);
          break;
        case 'closeNow':
          op.result = await closeNow();
          break;
        case 'setTimeout':
          break;
      }
      op.status = 'done';
    } catch (err) {
      if (isCancellation(err)) throw err;
      op.status = 'failed';
      op.result = describeFailure(err);
    }
  }

  async function cancelWorking(reason: string): Promise<void> {
    const open = workingOrders().filter((o) => o.exchange && !isTerminal(o.state));
    if (open.length === 0) return;
    setStatus('cancelling');
    const lists = new Set(open.map((o) => o.intent.listClientOrderId).filter((l): l is string => l !== undefined));
    for (const o of open) transition(o, 'cancel_requested', reason, Date.now());
    for (const listId of lists) {
      const legs = state.orders.filter((o) => o.intent.listClientOrderId === listId);
      const snaps = await send.cancelOrderList({
        symbol: d.symbol,
        listClientOrderId: listId,
        legs: legs.map((l) => ({ symbol: l.intent.symbol, clientOrderId: l.intent.clientOrderId })),
      });
      for (const snap of snaps) {
        const leg = orderById(snap.clientOrderId);
        if (leg) applySnapshot(leg, snap, `cancel (${reason})`, Date.now());
      }
    }
    for (const o of open.filter((x) => x.intent.listClientOrderId === undefined)) {
      const snap = await send.cancelOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
      applySnapshot(o, snap, `cancel (${reason})`, Date.now());
    }
    for (const o of open) await record(o);
  }

  /** Cancel-replace the single working order with a new price and/or total quantity. */
  async function amend(req: AmendRequest): Promise<string> {
    validateAmend(state, req);
    const old = workingOrders()[0]!;
    state.counters.replacement += 1;
    const intent = await replacementIntent(input, state, old, req, state.counters.replacement, prepareOrder);
    const order = trackOrder(intent);
    state.orders.push(order);
    upsertSearchAttributes([{ key: SA.clientOrderId, value: state.orders.map((o) => o.intent.clientOrderId) }]);
    await record(order);
    transition(old, 'cancel_requested', 'amend', Date.now());
    const result = await send.replaceOrder({
      old: { symbol: old.intent.symbol, clientOrderId: old.intent.clientOrderId },
      replacement: intent,
    });
    applySnapshot(old, result.old, 'amend: cancel-replace', Date.now());
    await record(old);
    if (!result.replacement) {
      transition(order, 'rejected', result.error ?? 'not placed', Date.now());
      await record(order);
      // The old order stays the working one if it is still open (cancel refused).
      throw ApplicationFailure.nonRetryable(`amend failed: ${result.error ?? 'replacement not placed'}`, 'OperationFailed');
    }
    applySnapshot(order, result.replacement, 'amend: replacement placed', Date.now());
    await record(order);
    if (req.quantity) state.targetQty = req.quantity;
    state.working = [order.intent.clientOrderId];
    return `replaced by ${order.intent.clientOrderId}`;
  }

  /** Convert the rest to market now: cancel what rests, buy or sell what is left at market. */
  async function closeNow(): Promise<string> {
    await cancelWorking('close now');
    state.counters.close += 1;
    const phase = state.phase === 'bracket' ? 'bracket' : 'entry';
    const plan = await closePlan(input, state, state.side, phase, state.counters.close, prepareOrder);
    if (!plan) return 'nothing left to close';
    await submit(plan);
    return `market order ${plan.orders[0]!.clientOrderId} placed`;
  }

  function wantsBracket(): boolean {
    return d.stop_loss !== undefined || d.take_profit !== undefined;
  }

  function executedIn(phase: 'entry' | 'bracket'): string {
    const inPhase = state.orders.filter((o) => (phase === 'bracket' ? o.intent.purpose === 'bracket' : o.intent.purpose !== 'bracket'));
    return inPhase.reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0)).toFixed();
  }

  /** The entry's filled base quantity less commission charged in the base asset. */
  async function heldAfterFees(): Promise<string> {
    await settleAll();
    const base = state.assets?.base;
    let held = dec(0);
    for (const o of state.orders.filter((x) => x.intent.purpose !== 'bracket')) {
      const sign = o.intent.side === state.side ? 1 : -1;
      held = held.plus(dec(o.fills.filledQty).mul(sign));
      if (o.intent.side === 'BUY') held = held.minus((base && o.fills.commissions[base]) || '0');
    }
    return held.toFixed();
  }

  async function settleAll(): Promise<void> {
    for (const order of state.orders) {
      if (order.exchange && dec(order.exchange.executedQty).gt(order.fills.filledQty)) {
        // An ordinary activity even with local bookkeeping: a local activity re-runs when its
        // workflow task's completion is refused (a push signal arrived meanwhile, common right
        // after a fill), and this one reads myTrades, the costliest call in exchange weight.
        order.fills = await remoteBooks.settleFills({
          decisionId: d.decision_id,
          workflowId: info.workflowId,
          symbol: order.intent.symbol,
          orderId: order.exchange.orderId,
          clientOrderId: order.intent.clientOrderId,
          expectedQty: order.exchange.executedQty,
        });
      }
    }
  }

  async function finish(override?: 'cancelled' | 'failed'): Promise<TradeState> {
    // A request accepted just as the last order closed has nothing left to act on: answer it.
    for (const op of state.operations.filter((o) => o.status === 'pending')) {
      op.status = 'failed';
      op.result = `the trade ended (${state.status}) before the ${op.kind} could be carried out`;
    }
    await settleAll();
    state.finishedAt = Date.now();
    setStatus(override === 'failed' ? 'failed' : finalTradeStatus(state, override));
    const report = buildReport(input, state, 1);
    await books.publishReport(report);
    await books.recordDecisionOutcome({
      decisionId: d.decision_id,
      status: report.success ? 'completed' : 'failed',
      error: state.error,
    });
    return state;
  }
}

function summaryLine(state: TradeState): string {
  const entry = state.orders[0];
  const filled = state.orders.reduce((acc, o) => acc.plus(o.intent.purpose === 'bracket' ? 0 : o.exchange?.executedQty ?? '0'), dec(0));
  return `${state.side} ${filled.toFixed()}/${state.targetQty} ${state.symbol} ${entry?.intent.type ?? ''} — ${state.status}`
    .replace(/\s+/g, ' ')
    .trim();
}
