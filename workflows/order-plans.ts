/**
 * What to send: turning a decision (or an operator request) into exact order intents, validated
 * against the exchange's rules by the prepareOrder activity. Client order ids are derived here,
 * deterministically, from the workflow id and each order's purpose.
 */
import type { PrepareOrderRequest, PreparedOrder } from '../activities/exchange-activities';
import { clientOrderIdFor } from '../src/shared/client-order-id';
import { FailureType } from '../src/shared/failure-types';
import type { Side } from '../src/shared/decision-types';
import { dec } from '../src/shared/exact-decimal';
import type { AmendRequest } from './definitions';
import { failureType } from './failures';
import type { ExchangeOrderType, OcoIntent, OrderIntent, OrderPurpose, ProtectedEntryIntent, TrackedOrder, TradeInput, TradeState } from '../src/shared/trade';

export type OrderPlan =
  | { kind: 'single'; orders: [OrderIntent] }
  | { kind: 'list'; orders: [OrderIntent, OrderIntent]; list: OcoIntent }
  /** The entry with its protective OCO as one OTOCO/OPOCO list: [entry, above, below]. */
  | { kind: 'protected'; orders: [OrderIntent, OrderIntent, OrderIntent]; list: ProtectedEntryIntent };

type Prepare = (req: PrepareOrderRequest) => Promise<PreparedOrder>;

const opposite = (side: Side): Side => (side === 'BUY' ? 'SELL' : 'BUY');

/**
 * `protectedEntry` (patch 'protected-entry'): a GTC LIMIT entry with both a take-profit and a
 * stop-loss goes out with its protection as one order list when the symbol allows it, so the
 * exchange places the OCO in the same matching step that fills the entry:
 *  - a BUY as an OPOCO (otoAllowed, opoAllowed, ocoAllowed): the OCO gets what the entry received
 *    net of commission, which the workflow could only guess when sending;
 *  - a SELL as an OTOCO (otoAllowed, ocoAllowed): it buys back the quantity sold.
 * Anything else, and a symbol without them, keeps the bracket placed after the fill.
 */
export async function entryPlan(input: TradeInput, state: TradeState, side: Side, prepare: Prepare, options: { protectedEntry?: boolean } = {}): Promise<OrderPlan> {
  const d = input.decision;
  if (d.order_type === 'OCO') {
    return ocoPlan(state, side, { kind: 'entry' }, d.approved_size, d.take_profit_price!, d.stop_price!, d.stop_limit_price!, prepare);
  }
  const p = await prepare({
    symbol: d.symbol,
    side,
    type: d.order_type,
    quantity: d.approved_size,
    price: d.order_type === 'MARKET' ? undefined : d.limit_price,
    stopPrice: d.order_type === 'STOP_LOSS_LIMIT' || d.order_type === 'TAKE_PROFIT_LIMIT' ? d.stop_price : undefined,
  });
  state.targetQty = p.quantity;
  state.assets = { base: p.baseAsset, quote: p.quoteAsset };
  const tif = d.time_in_force ?? 'GTC';
  const lists = p.lists;
  const listable = lists !== undefined && lists.oto && lists.oco && (side === 'SELL' || lists.opo);
  if (options.protectedEntry && listable && d.order_type === 'LIMIT' && tif === 'GTC' && d.take_profit !== undefined && d.stop_loss !== undefined) {
    try {
      return await protectedPlan(state, side, intent(state, { kind: 'entry' }, side, 'LIMIT', p, 'GTC'), d.take_profit, d.stop_loss, d.stop_limit_price ?? d.stop_loss, prepare);
    } catch (err) {
      // The exchange's rules refuse the pair (e.g. a stop outside PERCENT_PRICE_BY_SIDE): the
      // entry goes alone, as it did before lists, and the bracket after its fill meets the same
      // refusal and says so (protection_status refused, an unprotected_position alert).
      if (failureType(err) !== FailureType.OrderRejected) throw err;
      state.counters.bracket = 0;
      delete state.bracketQty;
    }
  }
  return {
    kind: 'single',
    orders: [
      intent(state, { kind: 'entry' }, side, d.order_type, p, d.order_type === 'MARKET' ? undefined : d.time_in_force ?? 'GTC'),
    ],
  };
}

/** The protective exit after an entry filled: OCO when both levels are given, else one order. */
export async function bracketPlan(
  input: TradeInput,
  state: TradeState,
  entrySide: Side,
  held: string,
  prepare: Prepare,
): Promise<OrderPlan> {
  const d = input.decision;
  const exit = opposite(entrySide);
  state.counters.bracket += 1;
  const n = state.counters.bracket;
  state.bracketQty = held;
  if (d.take_profit !== undefined && d.stop_loss !== undefined) {
    return ocoPlan(state, exit, { kind: 'bracket', n }, held, d.take_profit, d.stop_loss, d.stop_limit_price ?? d.stop_loss, prepare);
  }
  const type: ExchangeOrderType = d.take_profit !== undefined ? 'LIMIT' : 'STOP_LOSS_LIMIT';
  const p = await prepare({
    symbol: d.symbol,
    side: exit,
    type,
    quantity: held,
    price: d.take_profit ?? d.stop_limit_price ?? d.stop_loss,
    stopPrice: type === 'STOP_LOSS_LIMIT' ? d.stop_loss : undefined,
  });
  state.bracketQty = p.quantity;
  return { kind: 'single', orders: [intent(state, { kind: 'bracket', n }, exit, type, p, 'GTC')] };
}

/** "Close now": what is left of the entry (or of the position, in the bracket phase) at market. */
export async function closePlan(
  input: TradeInput,
  state: TradeState,
  entrySide: Side,
  phase: 'entry' | 'bracket',
  n: number,
  prepare: Prepare,
): Promise<OrderPlan | undefined> {
  const inEntry = (o: TrackedOrder) => o.intent.purpose !== 'bracket' && !(phase === 'bracket' && o.intent.purpose === 'close' && o.intent.side !== entrySide);
  const executed = (pred: (o: TrackedOrder) => boolean) =>
    state.orders.filter(pred).reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
  const side = phase === 'entry' ? entrySide : opposite(entrySide);
  const left =
    phase === 'entry'
      ? dec(state.targetQty).minus(executed(inEntry))
      : dec(state.bracketQty ?? '0').minus(executed((o) => o.intent.side === side));
  if (left.lte(0)) return undefined;
  const p = await prepare({ symbol: input.decision.symbol, side, type: 'MARKET', quantity: left.toFixed() });
  return { kind: 'single', orders: [intent(state, { kind: 'close', n }, side, 'MARKET', p, undefined)] };
}

/** The replacement for an amended order: new price and/or new total quantity, less what already filled. */
export async function replacementIntent(
  input: TradeInput,
  state: TradeState,
  old: TrackedOrder,
  req: AmendRequest,
  n: number,
  prepare: Prepare,
): Promise<OrderIntent> {
  const total = dec(req.quantity ?? old.exchange?.origQty ?? old.intent.quantity);
  const rest = total.minus(old.exchange?.executedQty ?? '0');
  const p = await prepare({
    symbol: input.decision.symbol,
    side: old.intent.side,
    type: old.intent.type,
    quantity: rest.toFixed(),
    price: req.price ?? old.intent.price,
    stopPrice: old.intent.stopPrice,
  });
  return intent(state, { kind: 'replacement', n }, old.intent.side, old.intent.type, p, old.intent.timeInForce);
}

async function ocoPlan(
  state: TradeState,
  side: Side,
  purpose: OrderPurpose,
  quantity: string,
  takeProfit: string,
  stop: string,
  stopLimit: string,
  prepare: Prepare,
): Promise<OrderPlan> {
  const symbol = state.symbol;
  const maker = await prepare({ symbol, side, type: 'LIMIT_MAKER', quantity, price: takeProfit });
  const stopLeg = await prepare({ symbol, side, type: 'STOP_LOSS_LIMIT', quantity, price: stopLimit, stopPrice: stop });
  const qty = dec(maker.quantity).lt(stopLeg.quantity) ? maker.quantity : stopLeg.quantity;
  state.assets ??= { base: maker.baseAsset, quote: maker.quoteAsset };
  if (purpose.kind === 'entry') state.targetQty = qty;
  const leg = (l: 'a' | 'b' | 'l'): OrderPurpose => (purpose.kind === 'bracket' ? { ...purpose, leg: l } : { kind: 'entry', leg: l });
  const listClientOrderId = clientOrderIdFor(state.workflowId, state.decisionId, leg('l'));
  // A SELL OCO takes profit above the market and stops out below; a BUY OCO the other way round.
  const makerLeg = { ...maker, quantity: qty };
  const stopPrepared = { ...stopLeg, quantity: qty };
  const [aboveP, aboveType, belowP, belowType] =
    side === 'SELL'
      ? ([makerLeg, 'LIMIT_MAKER', stopPrepared, 'STOP_LOSS_LIMIT'] as const)
      : ([stopPrepared, 'STOP_LOSS_LIMIT', makerLeg, 'LIMIT_MAKER'] as const);
  const above = { ...intent(state, leg('a'), side, aboveType, aboveP, aboveType === 'LIMIT_MAKER' ? undefined : 'GTC'), listClientOrderId };
  const below = { ...intent(state, leg('b'), side, belowType, belowP, belowType === 'LIMIT_MAKER' ? undefined : 'GTC'), listClientOrderId };
  return { kind: 'list', orders: [above, below], list: { listClientOrderId, symbol, side, quantity: qty, above, below } };
}

async function protectedPlan(
  state: TradeState,
  side: Side,
  entry: OrderIntent,
  takeProfit: string,
  stop: string,
  stopLimit: string,
  prepare: Prepare,
): Promise<OrderPlan> {
  const pays = side === 'BUY';
  // The pair as a bracket of the whole entry; for an OPOCO the exchange sets its quantity at the fill.
  const pair = await ocoPlan(state, opposite(side), { kind: 'bracket', n: 1 }, entry.quantity, takeProfit, stop, stopLimit, prepare);
  if (pair.kind !== 'list') throw new Error('protectedPlan: the protective pair must be an OCO');
  state.counters.bracket = 1;
  const [above, below] = pair.orders;
  const listClientOrderId = pair.list.listClientOrderId;
  const working = { ...entry, listClientOrderId };
  const list: ProtectedEntryIntent = {
    listClientOrderId,
    symbol: state.symbol,
    pays,
    working,
    ...(pays ? {} : { pendingQuantity: pair.list.quantity }),
    above,
    below,
  };
  if (!pays) state.bracketQty = pair.list.quantity;
  return { kind: 'protected', orders: [working, above, below], list };
}

function intent(
  state: TradeState,
  purpose: OrderPurpose,
  side: Side,
  type: ExchangeOrderType,
  p: PreparedOrder,
  timeInForce: OrderIntent['timeInForce'],
): OrderIntent {
  return {
    clientOrderId: clientOrderIdFor(state.workflowId, state.decisionId, purpose),
    purpose: purpose.kind,
    symbol: state.symbol,
    side,
    type,
    quantity: p.quantity,
    price: p.price,
    stopPrice: p.stopPrice,
    timeInForce,
  };
}

/** What an amend's replacement may still execute: the new total less what every entry order executed. */
export function restAfter(state: TradeState, newTotal: string): string {
  const executed = state.orders
    .filter((o) => o.intent.purpose !== 'bracket')
    .reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
  return dec(newTotal).minus(executed).toFixed();
}

/**
 * The replacement for an amended order, placed after the old one is cancelled and final: its
 * quantity is what the trade may still execute (see restAfter), so a fill that raced the
 * cancel is subtracted, never executed twice.
 */
export async function replacementAfterCancel(
  input: TradeInput,
  state: TradeState,
  old: TrackedOrder,
  price: string | undefined,
  quantity: string,
  n: number,
  prepare: Prepare,
): Promise<OrderPlan> {
  const p = await prepare({
    symbol: input.decision.symbol,
    side: old.intent.side,
    type: old.intent.type,
    quantity,
    price,
    stopPrice: old.intent.stopPrice,
  });
  return { kind: 'single', orders: [intent(state, { kind: 'replacement', n }, old.intent.side, old.intent.type, p, old.intent.timeInForce)] };
}
