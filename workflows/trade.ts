/**
 * The life of one approved risk decision, as a class the thin TradeExecution workflow drives
 * (it registers the handlers, workflows/trade-handlers.ts, and waits for run()):
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
 *
 * This file holds the process, step by step; each step lives in its own module: placement.ts
 * (plan, risk guard, exactly-once submission), order-following.ts (push, poll, deadline, and
 * continue-as-new.ts), operator-operations.ts (cancel, amend, close now), order-cancels.ts,
 * protection.ts (the bracket), wind-down.ts, fill-settlement.ts and trade-ending.ts (the report).
 * What they share (state, pushes, recording, status) is trade-context.ts.
 */
import { ApplicationFailure, CancellationScope, ContinueAsNew, isCancellation, patched } from '@temporalio/workflow';
import { sideOf } from '../src/shared/decision-types';
import { FailureType } from '../src/shared/failure-types';
import type { OrderSnapshot, TradeInput, TradeState } from '../src/shared/trade';
import { describeFailure } from './failures';
import { FillSettlement } from './fill-settlement';
import { OperatorOperations } from './operator-operations';
import { OrderCancels } from './order-cancels';
import { OrderFollowing } from './order-following';
import { entryPlan } from './order-plans';
import { Placement } from './placement';
import { Protection } from './protection';
import type { TradeActivities } from './trade-activities';
import { act, initialTradeState, throwIfCancelled, TradeContext } from './trade-context';
import { TradeEnding } from './trade-ending';
import type { HandledTrade } from './trade-handlers';
import { WindDown } from './wind-down';

export class Trade implements HandledTrade {
  private readonly ctx: TradeContext;
  private readonly placement: Placement;
  private readonly following: OrderFollowing;
  private readonly protection: Protection;
  private readonly winding: WindDown;
  private readonly ending: TradeEnding;

  constructor(input: TradeInput, acts: TradeActivities) {
    const d = input.decision;
    const side = sideOf(d.original_signal);
    if (d.decision === 'reject' || side === undefined) {
      // The bridge never starts these; refuse loudly rather than guess a side.
      throw ApplicationFailure.nonRetryable(`decision ${d.decision_id} has nothing to execute`, FailureType.InvalidDecision);
    }
    this.ctx = new TradeContext(input, acts, input.resume ?? initialTradeState(input, side), side);
    this.placement = new Placement(this.ctx);
    const cancels = new OrderCancels(this.ctx);
    const fills = new FillSettlement(this.ctx);
    this.following = new OrderFollowing(this.ctx, new OperatorOperations(this.ctx, this.placement, cancels), cancels);
    this.winding = new WindDown(this.ctx, this.placement, cancels);
    this.protection = new Protection(this.ctx, this.placement, fills, this.winding);
    this.ending = new TradeEnding(this.ctx, fills, this.protection);
  }

  get state(): TradeState {
    return this.ctx.state;
  }

  /** Where the push signal's handler leaves order updates for the follow loop. */
  get pushes(): OrderSnapshot[] {
    return this.ctx.pushes;
  }

  async run(): Promise<TradeState> {
    const state = this.state;
    const { input, acts, side } = this.ctx;
    try {
      if (state.phase === 'entry' && state.orders.length === 0) {
        const protectedEntry = patched('protected-entry');
        const plan = await act(() =>
          this.placement.plan(async () =>
            this.placement.guard(await entryPlan(input, state, side, acts.planner.prepareOrder, { protectedEntry }), { checkAge: true }),
          ),
        );
        if (!plan) return await act(() => this.ending.finish());
        // A cancellation that arrived while the plan was made: nothing has been sent yet, so
        // nothing is (acting steps cannot observe it; this is the last moment it costs nothing).
        throwIfCancelled();
        await act(() => this.placement.submit(plan));
      }
      if (state.phase === 'entry') {
        await this.following.follow(true);
        await act(() => this.protection.protect());
      }
      if (state.phase === 'bracket') await this.following.follow(false);
      state.phase = 'done';
      return await act(() => this.ending.finish());
    } catch (err) {
      // Continue-as-new hands the trade to the next run; it does not end it.
      if (err instanceof ContinueAsNew) throw err;
      const cancelled = isCancellation(err);
      const why = cancelled ? 'workflow cancelled by operator' : `trade failed: ${describeFailure(err)}`;
      state.error = cancelled ? why : describeFailure(err);
      // Whatever ended the trade, nothing it placed may stay live, and nothing that filled may
      // go unbooked: wind down first, in a scope the cancellation cannot interrupt.
      await CancellationScope.nonCancellable(async () => {
        await this.winding.windDown(why);
        if (!cancelled && state.phase === 'bracket' && state.protection === undefined && patched('unprotected-alerts')) {
          // The entry filled and the failure came while its protection was being planned or placed.
          await this.protection.reportUnprotected('refused', describeFailure(err));
        }
        await this.ending.finish(cancelled ? 'cancelled' : 'failed');
      });
      throw err;
    }
  }
}
