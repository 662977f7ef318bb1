/**
 * Every order the paper exchange has accepted: order ids per symbol, lookup by id or client id,
 * and the open orders per account (so the limit checks and the price steps do not scan the
 * whole order history). It decides nothing about fills or funds.
 */
import { ZERO, type Dec } from '../shared/decimal';
import type { BookSide } from './book';
import type { SymbolDef } from './market';
import { LIMIT_PRICED, STOP_TYPES, isOpen, type Account, type InternalOrder, type NewOrderParams, type Side } from './model';
import { availableQty } from './self-trade-prevention';

export class OrderRegistry {
  private readonly bySymbol = new Map<string, InternalOrder[]>(); // in orderId order
  private readonly byId = new Map<string, InternalOrder>(); // `${symbol}:${orderId}`
  private readonly openByAccount = new Map<string, Set<InternalOrder>>();
  private readonly nextOrderId = new Map<string, number>();

  addSymbol(symbol: string): void {
    this.bySymbol.set(symbol, []);
    this.nextOrderId.set(symbol, 1);
  }

  /**
   * A new order as placed, not yet registered: its orderId is the next one provisionally (a
   * test order keeps it; register() assigns the real one).
   */
  newOrder(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, now: number, orderListId: number): InternalOrder {
    const stop = STOP_TYPES.has(p.type);
    return {
      account: acct.apiKey,
      symbol: def.symbol,
      orderId: this.nextOrderId.get(def.symbol) ?? 1,
      orderListId,
      clientOrderId: p.newClientOrderId,
      side: p.side,
      type: p.type,
      timeInForce: p.timeInForce ?? 'GTC',
      price: p.price ?? ZERO,
      origQty: qty ?? ZERO,
      executedQty: ZERO,
      cummulativeQuoteQty: ZERO,
      origQuoteOrderQty: p.quoteOrderQty ?? ZERO,
      stopPrice: p.stopPrice,
      status: 'NEW',
      time: now,
      updateTime: now,
      isWorking: !stop,
      workingTime: stop ? -1 : now,
      lockAsset: undefined,
      locked: ZERO,
      expiryReason: undefined,
    };
  }

  /** Assigns the order its id and keeps it (and, while open, in its account's open set). */
  register(order: InternalOrder): void {
    order.orderId = this.nextOrderId.get(order.symbol) ?? 1;
    this.nextOrderId.set(order.symbol, order.orderId + 1);
    this.bySymbol.get(order.symbol)?.push(order);
    this.byId.set(`${order.symbol}:${order.orderId}`, order);
    this.trackOpen(order);
  }

  /** Keeps the account's open set in step with the order's status; call after every status change. */
  trackOpen(order: InternalOrder): void {
    let set = this.openByAccount.get(order.account);
    if (!set) {
      set = new Set();
      this.openByAccount.set(order.account, set);
    }
    if (isOpen(order)) set.add(order);
    else set.delete(order);
  }

  ordersOf(symbol?: string): InternalOrder[] {
    if (symbol !== undefined) return [...(this.bySymbol.get(symbol) ?? [])];
    return [...this.bySymbol.values()].flat();
  }

  byOrderId(symbol: string, orderId: number): InternalOrder | undefined {
    return this.byId.get(`${symbol}:${orderId}`);
  }

  /** The account's order by orderId (and, if given, matching client id) or else by client id. */
  find(account: string, symbol: string, orderId: number | undefined, clientOrderId: string | undefined): InternalOrder | undefined {
    let o: InternalOrder | undefined;
    if (orderId !== undefined) {
      o = this.byId.get(`${symbol}:${orderId}`);
      if (o && clientOrderId !== undefined && o.clientOrderId !== clientOrderId) return undefined;
    } else if (clientOrderId !== undefined) {
      // The newest order with that id: an id may be reused once the earlier order is closed.
      const list = this.bySymbol.get(symbol) ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        const c = list[i] as InternalOrder;
        if (c.account === account && c.clientOrderId === clientOrderId) {
          o = c;
          break;
        }
      }
    }
    return o && o.account === account ? o : undefined;
  }

  /** The account's open orders on every symbol. */
  openOf(apiKey: string): InternalOrder[] {
    return [...(this.openByAccount.get(apiKey) ?? [])];
  }

  hasOpenWithClientId(apiKey: string, symbol: string, clientOrderId: string): boolean {
    for (const o of this.openByAccount.get(apiKey) ?? []) if (o.symbol === symbol && o.clientOrderId === clientOrderId && isOpen(o)) return true;
    return false;
  }

  /** Every account's open orders on a symbol, accounts in the order they first had one. */
  openOn(symbol: string): InternalOrder[] {
    const open: InternalOrder[] = [];
    for (const set of this.openByAccount.values()) for (const o of set) if (o.symbol === symbol) open.push(o);
    return open;
  }

  /** The users' working orders resting on one side of the book: best price first, then time priority. */
  resting(symbol: string, side: BookSide): InternalOrder[] {
    const want: Side = side === 'bids' ? 'BUY' : 'SELL';
    const out: InternalOrder[] = [];
    for (const set of this.openByAccount.values()) {
      for (const o of set) {
        // An OTO's pending order (PENDING_NEW) and an untriggered stop are not on the book.
        if (o.symbol !== symbol || o.side !== want || !o.isWorking || o.status === 'PENDING_NEW' || !LIMIT_PRICED.has(o.type)) continue;
        if (availableQty(o).gt(0)) out.push(o);
      }
    }
    return out.sort((a, b) => (side === 'asks' ? a.price.cmp(b.price) : b.price.cmp(a.price)) || a.orderId - b.orderId);
  }
}
