/**
 * TradeExecution: the life of one approved risk decision.
 *
 *   validate against the exchange's rules → submit (exactly once) → follow until filled,
 *   cancelled or timed out → settle fills into the portfolio → publish the execution report.
 *
 * Every side effect is an activity. The workflow only decides; it never talks to the exchange,
 * the database or Redis itself, and it never sees a credential.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { sideOf } from '../src/shared/decision';
import { clientOrderIdFor } from '../src/shared/client-order-id';
import { dec } from '../src/shared/decimal';
import { isTerminal } from '../src/shared/order-state';
import { SA } from '../src/shared/search-attributes';
import type { OrderIntent, OrderSnapshot, TrackedOrder, TradeInput, TradeState } from '../src/shared/trade';
import {
  cancelSignal,
  cancelUpdate,
  exchangeOrderUpdateSignal,
  getStateQuery,
  setTimeoutSignal,
  setTimeoutUpdate,
  type CancelRequest,
} from './definitions';
import { applySnapshot, executedQty, trackOrder, transition } from './tracked-order';
import { buildReport, finalTradeStatus } from './report';

/** Error types from activities that no retry can fix. */
export const NON_RETRYABLE_ERRORS = ['OrderRejected', 'InvalidDecision', 'ExchangeRejected'];

// Exchange calls: bounded retries with backoff. Submission is safe to retry because the activity
// settles an unknown outcome by querying the client order id before it sends again.
const exchange = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  },
});

// Bookkeeping (Postgres, Redis) must eventually succeed: no attempt limit, patient backoff.
const books = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', nonRetryableErrorTypes: ['InvalidDecision'] },
});

/** Poll fallback when push is silent: 1 s, doubling, at most 60 s, so a resting order costs O(log t) queries. */
const FIRST_POLL_MS = 1_000;
const MAX_POLL_MS = 60_000;

export async function TradeExecution(input: TradeInput): Promise<TradeState> {
  const d = input.decision;
  const info = workflowInfo();
  const side = sideOf(d.original_signal);
  if (d.decision === 'reject' || side === undefined) {
    // The bridge never starts these; refuse loudly rather than guess a side.
    throw ApplicationFailure.nonRetryable(`decision ${d.decision_id} has nothing to execute`, 'InvalidDecision');
  }

  const state: TradeState = input.resume ?? {
    workflowId: info.workflowId,
    decisionId: d.decision_id,
    symbol: d.symbol,
    side,
    status: 'validating',
    orders: [],
    startedAt: Date.now(),
  };
  let deadline = input.deadline ?? state.startedAt + (d.timeout_ms ?? input.defaultOrderTimeoutMs);
  let cancelRequest: CancelRequest | undefined;
  let pushes: OrderSnapshot[] = [];

  setHandler(getStateQuery, () => state);
  setHandler(exchangeOrderUpdateSignal, (snap) => {
    pushes.push(snap);
  });
  const requestCancel = (req: CancelRequest) => {
    cancelRequest ??= req;
  };
  setHandler(cancelSignal, requestCancel);
  setHandler(
    cancelUpdate,
    async (req) => {
      requestCancel(req);
      await condition(() => isFinished(state) || !state.orders.some((o) => !isTerminal(o.state) && o.state !== 'cancel_requested'));
      return state;
    },
    { validator: (_req: CancelRequest) => assertCancellable(state) },
  );
  const applyTimeout = (timeoutMs: number) => {
    deadline = state.startedAt + timeoutMs;
  };
  setHandler(setTimeoutSignal, (req) => applyTimeout(req.timeoutMs));
  setHandler(setTimeoutUpdate, (req) => (applyTimeout(req.timeoutMs), state), {
    validator: (req) => {
      assertCancellable(state);
      if (!Number.isInteger(req?.timeoutMs) || req.timeoutMs < 1000) {
        throw new Error('timeoutMs: must be a whole number of milliseconds, at least 1000');
      }
      if (state.startedAt + req.timeoutMs <= Date.now()) {
        throw new Error(`timeoutMs: ${req.timeoutMs} ms after the start is already in the past`);
      }
    },
  });

  const setStatus = (status: TradeState['status']) => {
    state.status = status;
    upsertSearchAttributes([{ key: SA.status, value: status }]);
    upsertMemo({ summary: summaryLine(state) });
  };

  try {
    if (!input.resume) {
      const entry = await validate(input, state, side);
      if (!entry) return await finish(input, state, setStatus);
      const order = trackOrder(entry);
      state.orders.push(order);
      upsertSearchAttributes([{ key: SA.clientOrderId, value: [entry.clientOrderId] }]);
      setStatus('submitting');
      await books.recordOrder({ decisionId: d.decision_id, workflowId: info.workflowId, order });
      await submit(order);
      setStatus('working');
    }

    const order = state.orders[state.orders.length - 1]!;
    await follow(order, {
      deadline: () => deadline,
      cancelRequested: () => cancelRequest !== undefined,
      hasPush: () => pushes.length > 0,
      takePushes: () => {
        const taken = pushes;
        pushes = [];
        return taken;
      },
      onTimeout: () => cancelRemainder(order, 'timeout'),
      onCancelRequest: () => cancelRemainder(order, `operator: ${cancelRequest?.reason ?? 'cancel requested'}`),
      continueAsNew: () => continueAsNew<typeof TradeExecution>({ ...input, resume: state, deadline }),
    });
    return await finish(input, state, setStatus);
  } catch (err) {
    if (isCancellation(err)) {
      // Cancelled from the UI or `temporal workflow cancel`: the clean-up must still reach the
      // exchange, so it runs in a scope that the cancellation cannot interrupt.
      await CancellationScope.nonCancellable(async () => {
        for (const order of state.orders) {
          if (order.exchange && !isTerminal(order.state)) await cancelRemainder(order, 'workflow cancelled');
        }
        state.error = 'workflow cancelled by operator';
        await finish(input, state, setStatus, 'cancelled');
      });
      throw err;
    }
    state.error = describeFailure(err);
    for (const order of state.orders) if (!isTerminal(order.state)) transition(order, 'failed', state.error, Date.now());
    await finish(input, state, setStatus, 'failed');
    throw err;
  }

  async function submit(order: TrackedOrder): Promise<void> {
    try {
      const placed = await exchange.placeOrder(order.intent);
      applySnapshot(order, placed.order, placed.adopted ? 'adopted existing order' : 'submitted', Date.now());
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (failureType(err) === 'ExchangeRejected' || failureType(err) === 'OrderRejected') {
        transition(order, 'rejected', describeFailure(err), Date.now());
        state.error = describeFailure(err);
        return;
      }
      // Retries exhausted on an unknown outcome: the order may or may not exist. Ask until we know.
      const found = await books.findOrder({ symbol: order.intent.symbol, clientOrderId: order.intent.clientOrderId });
      if (found) applySnapshot(order, found, 'settled unknown outcome by query', Date.now());
      else {
        transition(order, 'failed', describeFailure(err), Date.now());
        state.error = describeFailure(err);
      }
    }
    await books.recordOrder({ decisionId: d.decision_id, workflowId: info.workflowId, order });
  }

  async function cancelRemainder(order: TrackedOrder, reason: string): Promise<void> {
    if (isTerminal(order.state)) return;
    transition(order, 'cancel_requested', reason, Date.now());
    setStatus('cancelling');
    const snap = await exchange.cancelOrder({ symbol: order.intent.symbol, clientOrderId: order.intent.clientOrderId });
    applySnapshot(order, snap, `cancel (${reason})`, Date.now());
    await books.recordOrder({ decisionId: d.decision_id, workflowId: info.workflowId, order });
  }
}

async function validate(input: TradeInput, state: TradeState, side: 'BUY' | 'SELL'): Promise<OrderIntent | undefined> {
  const d = input.decision;
  const type = d.order_type === 'MARKET' ? 'MARKET' : d.order_type === 'OCO' ? 'LIMIT' : d.order_type;
  try {
    const prepared = await exchange.prepareOrder({
      symbol: d.symbol,
      side,
      type,
      quantity: d.approved_size,
      price: d.limit_price,
      stopPrice: d.stop_price,
    });
    return {
      clientOrderId: clientOrderIdFor(state.workflowId, d.decision_id, { kind: 'entry' }),
      purpose: 'entry',
      symbol: d.symbol,
      side,
      type,
      quantity: prepared.quantity,
      price: prepared.price,
      stopPrice: prepared.stopPrice,
      timeInForce: type === 'MARKET' ? undefined : d.time_in_force ?? 'GTC',
    };
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (failureType(err) !== 'OrderRejected') throw err;
    state.error = describeFailure(err);
    state.status = 'rejected';
    return undefined;
  }
}

interface FollowHooks {
  deadline(): number;
  cancelRequested(): boolean;
  hasPush(): boolean;
  takePushes(): OrderSnapshot[];
  onTimeout(): Promise<void>;
  onCancelRequest(): Promise<void>;
  continueAsNew(): Promise<never>;
}

/**
 * Waits for the order to reach a final state. Push (user data stream → signal) is the normal
 * path; polling is the fallback, on a doubling interval so a resting order's cost in exchange
 * weight and history length grows with the log of its age, not linearly.
 */
async function follow(order: TrackedOrder, hooks: FollowHooks): Promise<void> {
  let pollMs = FIRST_POLL_MS;
  while (!isTerminal(order.state)) {
    if (hooks.cancelRequested() && order.state !== 'cancel_requested') {
      await hooks.onCancelRequest();
      continue;
    }
    const remaining = hooks.deadline() - Date.now();
    if (remaining <= 0 && order.state !== 'cancel_requested') {
      await hooks.onTimeout();
      continue;
    }
    const deadlineAtWait = hooks.deadline();
    const woke = await condition(
      () => hooks.cancelRequested() || hooks.deadline() !== deadlineAtWait || hooks.hasPush(),
      Math.max(1, Math.min(pollMs, remaining > 0 ? remaining : pollMs)),
    );
    const pushed = hooks.takePushes();
    for (const snap of pushed) applySnapshot(order, snap, 'push', Date.now());
    if (!woke && !isTerminal(order.state) && Date.now() < hooks.deadline()) {
      const snap = await exchange.queryOrder({ symbol: order.intent.symbol, clientOrderId: order.intent.clientOrderId });
      applySnapshot(order, snap, 'poll', Date.now());
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
    if (workflowInfo().continueAsNewSuggested && !isTerminal(order.state)) await hooks.continueAsNew();
  }
}

async function finish(
  input: TradeInput,
  state: TradeState,
  setStatus: (s: TradeState['status']) => void,
  override?: 'cancelled' | 'failed',
): Promise<TradeState> {
  const info = workflowInfo();
  for (const order of state.orders) {
    if (order.exchange && dec(executedQty(order)).gt(0)) {
      order.fills = await books.settleFills({
        decisionId: input.decision.decision_id,
        workflowId: info.workflowId,
        symbol: order.intent.symbol,
        orderId: order.exchange.orderId,
        clientOrderId: order.intent.clientOrderId,
        expectedQty: order.exchange.executedQty,
      });
    }
  }
  state.finishedAt = Date.now();
  setStatus(override === 'failed' ? 'failed' : finalTradeStatus(state, override));
  const report = buildReport(input, state, 1);
  await books.publishReport(report);
  await books.recordDecisionOutcome({
    decisionId: input.decision.decision_id,
    status: report.success ? 'completed' : 'failed',
    error: state.error,
  });
  return state;
}

function assertCancellable(state: TradeState): void {
  if (isFinished(state)) throw new Error(`trade is already ${state.status}; nothing to change`);
  if (!state.orders.some((o) => !isTerminal(o.state))) throw new Error(`trade has no open order (status ${state.status})`);
}

function isFinished(state: TradeState): boolean {
  return state.finishedAt !== undefined;
}

function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e && typeof e === 'object') {
    if (e instanceof ApplicationFailure) return e.type ?? undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeFailure(err: unknown): string {
  let e: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object') {
    if (e instanceof ApplicationFailure) return e.message;
    e = (e as { cause?: unknown }).cause;
    if (e instanceof Error) message = e.message;
  }
  return message;
}

function summaryLine(state: TradeState): string {
  const o = state.orders[state.orders.length - 1];
  const qty = o ? `${o.exchange?.executedQty ?? '0'}/${o.intent.quantity}` : '';
  return `${state.side} ${qty} ${state.symbol} ${o?.intent.type ?? ''} — ${state.status}`.replace(/\s+/g, ' ').trim();
}
