/**
 * POST /admin/fill: a counterparty fill of an exact quantity on one working order, as a maker,
 * so a test can script partial fills. Each refusal says which input is wrong and why, in plain
 * words (the admin API is ours, not Binance's).
 */
import { dec, type Dec } from '../shared/decimal';
import { fmt8, type SymbolDef } from './market';
import { isOpen, type InjectedFill, type InternalOrder, type InternalTrade } from './model';

/** FillInputSchema's shape (faults.ts) once parsed. */
export interface InjectedFillRequest {
  symbol: string;
  orderId?: number | undefined;
  origClientOrderId?: string | undefined;
  quantity: string;
  price?: string | undefined;
  /** The order's account; default the first account holding a matching order. */
  apiKey?: string | undefined;
}

/** What the fill needs from the engine. */
export interface FillTarget {
  symbols: ReadonlyMap<string, SymbolDef>;
  apiKeys(): string[];
  findOrder(apiKey: string, symbol: string, orderId: number | undefined, clientOrderId: string | undefined): InternalOrder | undefined;
  lastPrice(symbol: string): Dec;
  /** A maker fill now (matching.ts); undefined when the account lacks the funds. */
  fill(order: InternalOrder, price: Dec, qty: Dec): InternalTrade | undefined;
}

export function injectFill(target: FillTarget, f: InjectedFillRequest): InjectedFill {
  const def = target.symbols.get(f.symbol);
  if (!def) throw new Error(`symbol: unknown symbol ${f.symbol}`);
  const candidates = f.apiKey !== undefined ? [f.apiKey] : target.apiKeys();
  let o: InternalOrder | undefined;
  for (const key of candidates) {
    o = target.findOrder(key, f.symbol, f.orderId, f.origClientOrderId);
    if (o) break;
  }
  const which = f.orderId !== undefined ? `orderId ${f.orderId}` : `origClientOrderId ${String(f.origClientOrderId)}`;
  if (!o) throw new Error(`no order with ${which} on ${f.symbol}`);
  if (!isOpen(o)) throw new Error(`order ${which} is ${o.status}, not open: nothing can fill it`);
  if (!o.isWorking) throw new Error(`order ${which} is not working yet (its stop has not triggered): it is not on the book`);
  const qty = dec(f.quantity);
  const remaining = o.origQty.minus(o.executedQty);
  if (qty.lte(0)) throw new Error('quantity: must be above 0');
  if (qty.gt(remaining)) throw new Error(`quantity: ${f.quantity} is more than the order's remaining ${fmt8(remaining)}`);
  if (!qty.mod(dec(def.stepSize)).isZero()) throw new Error(`quantity: ${f.quantity} is not a multiple of stepSize ${def.stepSize}`);
  const price = f.price !== undefined ? dec(f.price) : o.price.gt(0) ? o.price : target.lastPrice(o.symbol);
  if (price.lte(0)) throw new Error('price: must be above 0');
  if (o.price.gt(0) && (o.side === 'BUY' ? price.gt(o.price) : price.lt(o.price))) {
    throw new Error(`price: ${f.price ?? ''} is worse than the order's limit ${fmt8(o.price)} for a ${o.side}`);
  }
  const t = target.fill(o, price, qty);
  if (!t) throw new Error('the account no longer holds the funds for this fill');
  return { symbol: o.symbol, orderId: o.orderId, clientOrderId: o.clientOrderId, tradeId: t.id, price: fmt8(t.price), qty: fmt8(t.qty), executedQty: fmt8(o.executedQty), status: o.status };
}
