/**
 * Following a trade's working orders until each is final: push (user data stream → signal) is
 * the normal path, polling the fallback, and the worker's coverage check (patch
 * 'push-coverage') says when a poll can be skipped. Operator requests and the entry deadline
 * are served in between; the only cancellable step is the wait itself.
 */
import { condition, patched } from '@temporalio/workflow';
import { isTerminal } from '../src/shared/order-state';
import type { TrackedOrder } from '../src/shared/trade';
import { continueAsNewIfDue } from './continue-as-new';
import type { OperatorOperations } from './operator-operations';
import { hasPendingOperation } from './operator-requests';
import type { OrderCancels } from './order-cancels';
import { applySnapshot } from './tracked-order';
import type { TradeActivities } from './trade-activities';
import { act, VENUE, TradePart, type TradeContext } from './trade-context';

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

export class OrderFollowing extends TradePart {
  /** Whether this run checks coverage before polling; decided when it first follows its orders (patch 'push-coverage'). */
  private checksCoverage: boolean | undefined;

  constructor(
    ctx: TradeContext,
    private readonly operations: OperatorOperations,
    private readonly cancels: OrderCancels,
  ) {
    super(ctx);
  }

  /**
   * Waits until every working order is final. Push (user data stream → signal) is the normal
   * path, polling the fallback. Operator requests and the entry deadline are served in between;
   * the only cancellable step is the wait itself.
   */
  async follow(withDeadline: boolean): Promise<void> {
    const state = this.state;
    const ctx = this.ctx;
    let pollMs = POLL.firstMs;
    this.checksCoverage ??= patched('push-coverage');
    let checkAtOnce = this.checksCoverage;
    for (;;) {
      const pending = state.operations.find((op) => op.status === 'pending');
      if (pending) {
        await act(() => this.operations.perform(pending));
        // An amend or close-now may have placed an order: claim it before its first event.
        checkAtOnce = this.checksCoverage;
        continue;
      }
      const open = ctx.openWorking();
      if (open.length === 0) return;
      const now = Date.now();
      const remaining = state.deadline - now;
      // Due for a cancel: everything at the deadline, and any order a cancel (ours or an
      // operator's) left open, again with backoff for as long as it stays open.
      const due = withDeadline && remaining <= 0 ? open : open.filter((o) => o.state === 'cancel_requested');
      if (due.length > 0 && now >= this.cancels.nextCancelAt) {
        const timedOut = withDeadline && remaining <= 0;
        // An unfilled rest is an outcome with a reason, not an error the report leaves blank.
        if (timedOut) state.error ??= `timed out: not filled within ${state.deadline - state.startedAt} ms; the rest was cancelled`;
        await act(() => this.cancels.cancelOrders(due, timedOut ? 'timeout' : 'retrying an earlier cancel'));
        continue;
      }
      const deadlineAtWait = state.deadline;
      let waitMs = pollMs;
      if (this.checksCoverage !== true && open.every((o) => ctx.pushedOrders.has(o.intent.clientOrderId))) waitMs = Math.max(pollMs, POLL.pushedFirstMs);
      if (withDeadline && remaining > 0) waitMs = Math.min(waitMs, remaining);
      if (due.length > 0) waitMs = Math.min(waitMs, this.cancels.nextCancelAt - now);
      const woke = checkAtOnce
        ? false
        : await condition(() => ctx.pushes.length > 0 || hasPendingOperation(state) || state.deadline !== deadlineAtWait, Math.max(1, waitMs));
      checkAtOnce = false;
      let allCovered = false;
      await act(async () => {
        for (const snap of ctx.pushes.splice(0)) {
          const order = ctx.orderById(snap.clientOrderId);
          if (!order) continue;
          ctx.pushedOrders.add(snap.clientOrderId);
          // The view is as of the event (exchange time), not of when it reached us.
          ctx.knownAt.set(snap.clientOrderId, Math.min(Date.now(), snap.updateTime ?? Date.now()));
          if (applySnapshot(order, snap, 'push', Date.now(), VENUE)) await ctx.record(order);
        }
        if (!woke) {
          const working = open.filter((o) => !isTerminal(o.state));
          const toPoll = this.checksCoverage ? await this.pollsNeeded(working) : working;
          allCovered = this.checksCoverage === true && toPoll.length === 0;
          for (const o of toPoll) {
            // Known as of when the read was asked for: what happened while it ran may be missing from it.
            const askedAt = Date.now();
            const snap = await ctx.acts.exchangeReads.queryOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
            ctx.knownAt.set(o.intent.clientOrderId, askedAt);
            if (applySnapshot(o, snap, 'poll', Date.now(), VENUE)) await ctx.record(o);
          }
        }
      });
      if (!woke) {
        if (allCovered) pollMs = Math.min(Math.max(waitMs * 2, COVERED.firstMs), COVERED.maxMs);
        else if (this.checksCoverage) pollMs = Math.min(waitMs * 2, POLL.maxMs);
        else pollMs = Math.min(waitMs * 2, ctx.pushedOrders.size > 0 ? POLL.pushedMaxMs : POLL.maxMs);
      }
      await continueAsNewIfDue(ctx, this.checksCoverage === true);
    }
  }

  /**
   * Asks the worker's user data stream which of these orders it vouches for (push-coverage.ts);
   * applies what it held for them and returns the rest, to be read by REST. A failed check is
   * "none covered": polling is always safe, skipping it only when the stream says so.
   */
  private async pollsNeeded(working: TrackedOrder[]): Promise<TrackedOrder[]> {
    if (working.length === 0) return working;
    const ctx = this.ctx;
    const orders = working.map((o) => ({
      symbol: o.intent.symbol,
      clientOrderId: o.intent.clientOrderId,
      knownSince: ctx.knownAt.get(o.intent.clientOrderId) ?? o.transitions.at(-1)?.at ?? this.state.startedAt,
      ...(o.exchange ? { status: o.exchange.status, executedQty: o.exchange.executedQty } : {}),
    }));
    const askedAt = Date.now();
    let answer: Awaited<ReturnType<TradeActivities['coverage']['coverOrders']>>;
    try {
      answer = await ctx.acts.coverage.coverOrders({ workflowId: this.state.workflowId, orders });
    } catch {
      return working;
    }
    for (const snap of answer.snapshots) {
      const order = ctx.orderById(snap.clientOrderId);
      if (order && applySnapshot(order, snap, 'push (held until watched)', Date.now(), VENUE)) await ctx.record(order);
    }
    const covered = new Set(answer.covered);
    for (const id of covered) ctx.knownAt.set(id, askedAt);
    return working.filter((o) => !covered.has(o.intent.clientOrderId));
  }
}
