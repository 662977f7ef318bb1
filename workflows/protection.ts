/**
 * Protecting what the entry bought with the bracket the decision asked for, and saying so
 * loudly when the position ends up unprotected (the bracket refused, cancelled before it filled,
 * or expired in match): the report names it and a person is alerted.
 */
import { dec } from '../src/shared/exact-decimal';
import { isTerminal } from '../src/shared/order-state';
import type { FillSettlement } from './fill-settlement';
import { bracketPlan } from './order-plans';
import type { Placement } from './placement';
import { applySnapshot } from './tracked-order';
import { VENUE, TradePart, type TradeContext } from './trade-context';
import type { WindDown } from './wind-down';

/** Bracket states in which an order protects nothing. */
const NOT_PROTECTING: ReadonlySet<string> = new Set(['rejected', 'failed', 'not_placed', 'expired']);

export class Protection extends TradePart {
  constructor(
    ctx: TradeContext,
    private readonly placement: Placement,
    private readonly fills: FillSettlement,
    private readonly winding: WindDown,
  ) {
    super(ctx);
  }

  /**
   * After the entry: protect what it bought with the bracket the decision asked for. A refused
   * bracket does not end the trade silently: the report says `protection_status: refused`, the
   * trade's error says why, and an alert is raised, because the position is now unprotected.
   */
  async protect(): Promise<void> {
    const state = this.state;
    const { acts, input, side } = this.ctx;
    const d = input.decision;
    const wants = d.stop_loss !== undefined || d.take_profit !== undefined;
    if (!wants || !dec(this.ctx.executedIn('entry')).gt(0)) {
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
    const plan = await this.placement.plan(async () => bracketPlan(input, state, side, await this.fills.heldAfterFees(), acts.planner.prepareOrder));
    // (Runs in act(): a cancellation cannot be observed here; the next wait sees it and winds down.)
    if (plan) await this.placement.submit(plan);
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
    const ctx = this.ctx;
    const entry = state.orders.find((o) => o.intent.purpose === 'entry' && o.intent.listClientOrderId !== undefined && o.intent.type === 'LIMIT');
    if (!entry) return false;
    const pair = state.orders.filter((o) => o.intent.purpose === 'bracket' && o.intent.listClientOrderId === entry.intent.listClientOrderId);
    // The placement response showed the pair PENDING_NEW; read it again unless a push already said more.
    for (const leg of pair.filter((o) => !isTerminal(o.state) && o.exchange?.status === 'PENDING_NEW')) {
      const snap = await ctx.acts.exchangeReads.queryOrder({ symbol: leg.intent.symbol, clientOrderId: leg.intent.clientOrderId });
      ctx.knownAt.set(leg.intent.clientOrderId, Date.now());
      if (applySnapshot(leg, snap, 'protection placed by the exchange at the entry fill', Date.now(), VENUE)) await ctx.record(leg);
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
    if (pair.some((o) => !isTerminal(o.state))) await this.winding.windDown('protected entry ended without its pair');
    return false;
  }

  /** The position the entry bought is not protected: the report says why, and a person is alerted. */
  async reportUnprotected(status: 'refused' | 'cancelled' | 'expired', reason: string): Promise<void> {
    const state = this.state;
    state.protection = { status, reason };
    state.error = `unprotected: the protective bracket was ${status} (${reason})`;
    await this.ctx.acts.books.raiseAlert({
      kind: 'unprotected_position',
      severity: 'critical',
      message: `${state.symbol} ${state.side} trade ${state.decisionId}: the entry filled but its protective bracket was ${status} (${reason}); the position is unprotected`,
      detail: { decisionId: state.decisionId, workflowId: state.workflowId, symbol: state.symbol, reason },
      dedupeKey: `unprotected:${state.workflowId}`,
    });
  }

  /**
   * A bracket cancelled before any of it filled (the workflow or the trade was cancelled in the
   * bracket phase) leaves the position unprotected: the report says so and an alert is raised.
   */
  async noteLostProtection(): Promise<void> {
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
}
