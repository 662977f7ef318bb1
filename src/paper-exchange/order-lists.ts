/**
 * Order lists: OCO (rest-api.md "New Order list - OCO") and the OTO family (OTO, OTOCO, OPO,
 * OPOCO): placing them, how one order's fate moves the others, and closing the list. The engine
 * owns the orders and balances; this keeps the lists and is told of each fill, trigger and close
 * of an order that belongs to one.
 */
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { Engine } from './engine';
import { STOP_TYPES, TYPE_NOT_SUPPORTED, isOpen, type InternalOrder, type InternalTrade, type NewOrderParams, type OcoLeg, type OcoParams, type OrderList, type OrderTypeName, type OtoParams } from './model';
import { resolveStpMode } from './self-trade-prevention';
import { ApiError, badRequest, MSG, newOrderRejected } from './wire';

export class OrderLists {
  readonly lists = new Map<number, OrderList>();
  private nextListId = 1;

  constructor(private readonly engine: Engine) {}


  /**
   * An OCO locks its funds once, on one leg. Whichever leg becomes active takes the lock over,
   * so the expiring sibling does not hand the funds back to `free` mid-trade.
   */
  adoptListLock(order: InternalOrder): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list) return;
    for (const leg of this.legs(list)) {
      if (leg === order || leg.locked.lte(0)) continue;
      order.lockAsset = leg.lockAsset;
      order.locked = order.locked.plus(leg.locked);
      leg.locked = ZERO;
    }
  }

  findList(account: string, orderListId: number | undefined, listClientOrderId: string | undefined): OrderList | undefined {
    let list: OrderList | undefined;
    if (orderListId !== undefined) {
      list = this.lists.get(orderListId);
      if (list && listClientOrderId !== undefined && list.listClientOrderId !== listClientOrderId) return undefined;
    } else if (listClientOrderId !== undefined) {
      for (const l of this.lists.values()) if (l.account === account && l.listClientOrderId === listClientOrderId) list = l;
    }
    return list && list.account === account ? list : undefined;
  }

  /**
   * Places an OCO: validates both legs and the price relationship against the last price,
   * locks the funds once (the larger of the two legs' needs) and starts both legs.
   */
  placeOco(apiKey: string, p: OcoParams): { list: OrderList; legs: InternalOrder[] } {
    const acct = this.engine.account(apiKey);
    const def = this.engine.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.status !== 'TRADING') throw newOrderRejected(MSG.marketClosed);
    const last = this.engine.lastPrice(p.symbol);
    const isStopLoss = (t: OrderTypeName): boolean => t === 'STOP_LOSS' || t === 'STOP_LOSS_LIMIT';
    const isTakeProfit = (t: OrderTypeName): boolean => t === 'TAKE_PROFIT' || t === 'TAKE_PROFIT_LIMIT';
    if (p.side === 'SELL') {
      if (isStopLoss(p.above.type)) throw badRequest(-1197, 'A stop loss order in a sell OCO must be below.');
      if (isTakeProfit(p.below.type)) throw badRequest(-1199, 'A take profit order in a sell OCO must be above.');
    } else {
      if (p.above.type === 'LIMIT_MAKER') throw badRequest(-1165, 'A limit order in a buy OCO must be below.');
      if (isTakeProfit(p.above.type)) throw badRequest(-1198, 'A take profit order in a buy OCO must be below.');
      if (isStopLoss(p.below.type)) throw badRequest(-1196, 'A stop loss order in a buy OCO must be above.');
    }
    for (const leg of [p.above, p.below]) {
      if (!def.orderTypes.includes(leg.type)) throw newOrderRejected(TYPE_NOT_SUPPORTED[leg.type]);
      this.engine.checkFilters(acct, def, { ...leg, symbol: p.symbol, side: p.side, quantity: p.quantity, quoteOrderQty: undefined }, p.quantity, last, 2);
    }
    // The above leg's reference price must be above the last price, the below leg's below it.
    const ref = (l: OcoLeg): Dec => (l.type === 'LIMIT_MAKER' ? (l.price as Dec) : (l.stopPrice as Dec));
    if (!(ref(p.above).gt(last) && ref(p.below).lt(last))) throw newOrderRejected(MSG.priceRelationship);
    for (const leg of [p.above, p.below]) {
      if (this.engine.openOrderWithClientId(apiKey, p.symbol, leg.newClientOrderId)) throw newOrderRejected(MSG.duplicateOrder);
    }
    this.refuseExecutingListId(apiKey, p.listClientOrderId);
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);
    const needPrice = D.max(...[p.above, p.below].map((l) => l.price ?? l.stopPrice ?? last));
    const lock = p.side === 'SELL' ? { asset: def.baseAsset, amount: p.quantity } : { asset: def.quoteAsset, amount: needPrice.mul(p.quantity) };
    if (this.engine.bal(acct, lock.asset).free.lt(lock.amount)) throw newOrderRejected(MSG.insufficientBalance);

    const now = this.engine.now();
    const list = this.newList(apiKey, p.symbol, 'OCO', p.listClientOrderId, now);
    // Binance lists the stop-type leg first in the response; keep the legs in that order.
    const legParams = isStopLoss(p.below.type) ? [p.below, p.above] : [p.above, p.below];
    const legs = legParams.map((l, i) => {
      const o = this.engine.newOrderObject(acct, def, { ...l, symbol: p.symbol, side: p.side, quantity: p.quantity, quoteOrderQty: undefined }, p.quantity, now, list.orderListId);
      o.selfTradePreventionMode = stpMode;
      this.engine.insert(o, i === 0 ? lock : undefined);
      list.orderIds.push(o.orderId);
      return o;
    });
    this.lists.set(list.orderListId, list);
    this.engine.emit('listStatus', list, legs);
    return { list, legs };
  }

  /**
   * Places an OTO-family list (OTO, OTOCO, OPO, OPOCO; rest-api.md "New Order list - OTO"): only
   * the working order (LIMIT or LIMIT_MAKER) goes on the book; the pending orders wait as
   * PENDING_NEW and are placed, in the same matching step, the moment it is fully filled. A
   * working order that ends otherwise (cancelled, expired, IOC rest) takes its pending orders
   * with it.
   *
   * Assumptions where the docs are silent, stated here: the pending above/below pair must sit
   * above and below the working price (where the market is when they are placed); funds for
   * the pending orders are checked and locked when they are placed, not before (OPO's doc says
   * only the working order's balance is required); pending orders that cannot be funded then
   * expire.
   */
  placeOto(apiKey: string, p: OtoParams): { list: OrderList; orders: InternalOrder[]; fills: InternalTrade[] } {
    const acct = this.engine.account(apiKey);
    const def = this.engine.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.status !== 'TRADING') throw newOrderRejected(MSG.marketClosed);
    if (p.pays && (p.working.side !== 'BUY' || p.pendingSide !== 'SELL')) {
      throw newOrderRejected('OPO order lists need a BUY working order and SELL pending orders.');
    }
    const last = this.engine.lastPrice(p.symbol);
    const working: NewOrderParams = { symbol: p.symbol, side: p.working.side, type: p.working.type, timeInForce: p.working.timeInForce, quantity: p.working.quantity, quoteOrderQty: undefined, price: p.working.price, stopPrice: undefined, newClientOrderId: p.working.newClientOrderId };
    for (const type of [working.type, ...p.pending.map((l) => l.type)]) if (!def.orderTypes.includes(type)) throw newOrderRejected(TYPE_NOT_SUPPORTED[type]);
    this.engine.checkFilters(acct, def, working, working.quantity, last, 1 + p.pending.length);
    if (working.type === 'LIMIT_MAKER' && this.engine.marketable(working.side, p.working.price, last)) throw newOrderRejected(MSG.wouldMatchAndTake);
    // OPO: the received quantity is not known yet; the working quantity stands in for the filters.
    const pendingQty = p.pendingQuantity ?? p.working.quantity;
    const pendingParams = p.pending.map((l): NewOrderParams => ({ ...l, symbol: p.symbol, side: p.pendingSide, quantity: pendingQty, quoteOrderQty: undefined }));
    for (const leg of pendingParams) this.engine.checkFilters(acct, def, leg, pendingQty, p.working.price, 1 + p.pending.length);
    if (p.pending.length === 2) {
      const [above, below] = p.pending as [OcoLeg, OcoLeg];
      const ref = (l: OcoLeg): Dec => (l.type === 'LIMIT_MAKER' ? (l.price as Dec) : (l.stopPrice as Dec));
      if (!(ref(above).gt(p.working.price) && ref(below).lt(p.working.price))) throw newOrderRejected(MSG.priceRelationship);
    }
    for (const cid of [working.newClientOrderId, ...p.pending.map((l) => l.newClientOrderId)]) {
      if (this.engine.openOrderWithClientId(apiKey, p.symbol, cid)) throw newOrderRejected(MSG.duplicateOrder);
    }
    this.refuseExecutingListId(apiKey, p.listClientOrderId);
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);
    const lock = this.engine.lockFor(def, working, working.quantity, last);
    if (lock && this.engine.bal(acct, lock.asset).free.lt(lock.amount)) throw newOrderRejected(MSG.insufficientBalance);

    const now = this.engine.now();
    const list: OrderList = { ...this.newList(apiKey, p.symbol, 'OTO', p.listClientOrderId, now), pays: p.pays };
    this.lists.set(list.orderListId, list);
    const workingOrder = this.engine.newOrderObject(acct, def, working, working.quantity, now, list.orderListId);
    workingOrder.selfTradePreventionMode = stpMode;
    this.engine.insert(workingOrder, lock);
    list.orderIds.push(workingOrder.orderId);
    list.workingOrderId = workingOrder.orderId;
    // As in an OCO, the stop-type pending order comes first.
    const ordered = pendingParams.length === 2 && !STOP_TYPES.has(pendingParams[0]!.type) ? [pendingParams[1]!, pendingParams[0]!] : pendingParams;
    const pendingOrders = ordered.map((leg) => {
      const o = this.engine.newOrderObject(acct, def, leg, p.pendingQuantity ?? ZERO, now, list.orderListId);
      o.status = 'PENDING_NEW';
      o.selfTradePreventionMode = stpMode;
      o.isWorking = false;
      o.workingTime = -1;
      this.engine.insert(o, undefined);
      list.orderIds.push(o.orderId);
      return o;
    });
    this.engine.emit('listStatus', list, this.legs(list));
    // Binance's placement response shows the pending orders as placed (PENDING_NEW), even when
    // the working order filled at once and they are on the book already: report them as such.
    const asPlaced = pendingOrders.map((o) => ({ ...o }));
    const fills = this.engine.activate(workingOrder, now);
    return { list, orders: [workingOrder, ...asPlaced], fills };
  }

  /** The working order of an OTO list filled completely: its pending orders go on the book now. */
  /** A list client id an EXECUTING list of the account already has is a duplicate order. */
  private refuseExecutingListId(apiKey: string, listClientOrderId: string): void {
    if ([...this.lists.values()].some((l) => l.account === apiKey && l.listClientOrderId === listClientOrderId && l.listOrderStatus === 'EXECUTING')) {
      throw newOrderRejected(MSG.duplicateOrder);
    }
  }

  /** A new list, just started (its id the next one), with no orders yet. */
  private newList(apiKey: string, symbol: string, contingencyType: OrderList['contingencyType'], listClientOrderId: string, now: number): OrderList {
    return {
      account: apiKey,
      symbol,
      orderListId: this.nextListId++,
      contingencyType,
      listStatusType: 'EXEC_STARTED',
      listOrderStatus: 'EXECUTING',
      listClientOrderId,
      transactionTime: now,
      orderIds: [],
    };
  }

  private placePending(list: OrderList, workingOrder: InternalOrder, now: number): void {
    const def = this.engine.symbolDef(list.symbol);
    const acct = this.engine.account(list.account);
    const pending = this.legs(list).filter((o) => o.status === 'PENDING_NEW');
    if (pending.length === 0) return;
    let qty = pending[0]!.origQty;
    if (list.pays === true) {
      // What the working order received, less the commission taken from it (faqs/opo.md), to the lot step.
      const trades = (this.engine.tradesOf(list.symbol)).filter((t) => t.orderId === workingOrder.orderId);
      const commission = trades.filter((t) => t.commissionAsset === def.baseAsset).reduce((a, t) => a.plus(t.commission), ZERO);
      qty = floorToStep(workingOrder.executedQty.minus(commission), dec(def.stepSize));
    }
    const side = pending[0]!.side;
    const price = D.max(...pending.map((o) => (o.price.gt(0) ? o.price : (o.stopPrice ?? this.engine.lastPrice(list.symbol)))));
    const lock = side === 'SELL' ? { asset: def.baseAsset, amount: qty } : { asset: def.quoteAsset, amount: price.mul(qty) };
    if (qty.lte(0) || this.engine.bal(acct, lock.asset).free.lt(lock.amount)) {
      for (const o of pending) {
        o.origQty = qty;
        this.engine.finish(o, 'EXPIRED', now, 'INSUFFICIENT_BALANCE');
      }
      this.maybeCloseList(list, now);
      return;
    }
    pending.forEach((o, i) => {
      o.origQty = qty;
      o.status = 'NEW';
      o.updateTime = now;
      const stop = STOP_TYPES.has(o.type);
      o.isWorking = !stop;
      o.workingTime = stop ? -1 : now;
      // As in an OCO, the list's funds are locked once, on its first order.
      if (i === 0) this.engine.lockFunds(o, lock);
      this.engine.trackOpen(o);
      this.engine.emitExec(o, 'NEW', undefined);
    });
    list.transactionTime = now;
    this.engine.emit('listStatus', list, this.legs(list));
  }

  /** A working order that ended without filling completely: its pending orders expire with it. */
  onWorkingOrderClosed(order: InternalOrder, now: number): void {
    if (order.orderListId === -1 || order.status === 'FILLED') return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.workingOrderId !== order.orderId || list.listOrderStatus !== 'EXECUTING') return;
    const pending = this.legs(list).filter((leg) => leg.status === 'PENDING_NEW');
    // None left when the list as a whole is being cancelled (cancelList closes them first and reports the list itself).
    if (pending.length === 0) return;
    for (const leg of pending) this.engine.finish(leg, 'EXPIRED', now);
    this.maybeCloseList(list, now);
  }

  legs(list: OrderList): InternalOrder[] {
    return list.orderIds.map((id) => this.engine.orderById(list.symbol, id)).filter((o): o is InternalOrder => o !== undefined);
  }

  /** One leg traded (even partially): the other legs expire and the list is done. */
  onListLegFilled(order: InternalOrder, now: number): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.listOrderStatus !== 'EXECUTING') return;
    if (list.workingOrderId === order.orderId) {
      // An OTO's working order: its pending orders are placed once it is fully filled, not before.
      if (order.status === 'FILLED') this.placePending(list, order, now);
      return;
    }
    for (const leg of this.legs(list)) if (leg !== order && isOpen(leg)) this.engine.finish(leg, 'EXPIRED', now, 'OCO_TRIGGER');
    this.maybeCloseList(list, now);
  }

  /** A stop leg triggered: the other legs expire (Binance's OCO semantics). */
  onListLegTriggered(order: InternalOrder, now: number): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.listOrderStatus !== 'EXECUTING') return;
    this.adoptListLock(order);
    for (const leg of this.legs(list)) if (leg !== order && isOpen(leg)) this.engine.finish(leg, 'EXPIRED', now, 'OCO_TRIGGER');
    this.maybeCloseList(list, now);
  }

  maybeCloseList(list: OrderList, now: number): void {
    const all = this.legs(list);
    const working = list.workingOrderId === undefined ? undefined : all.find((o) => o.orderId === list.workingOrderId);
    if (working && isOpen(working)) return;
    // An OTO is done when its working order ended unfilled, or as an OCO of its placed pending orders.
    const legs = working ? all.filter((o) => o !== working) : all;
    if (working && working.status !== 'FILLED' && legs.every((l) => !isOpen(l)) && list.listOrderStatus === 'EXECUTING') {
      list.listStatusType = 'ALL_DONE';
      list.listOrderStatus = 'ALL_DONE';
      list.transactionTime = now;
      this.engine.emit('listStatus', list, all);
      return;
    }
    const anyDone = legs.some((l) => !isOpen(l) || l.executedQty.gt(0) || (l.stopPrice !== undefined && l.isWorking));
    if (!anyDone || list.listOrderStatus !== 'EXECUTING') return;
    list.listStatusType = 'ALL_DONE';
    list.listOrderStatus = 'ALL_DONE';
    list.transactionTime = now;
    this.engine.emit('listStatus', list, all);
  }

  cancelList(orderListId: number, now: number, cancelClientOrderId?: string): OrderList {
    const list = this.lists.get(orderListId);
    if (!list) throw badRequest(-2011, MSG.orderListDoesNotExist);
    // An OTO's working order last: closing it first would expire its pending orders instead of cancelling them.
    const legs = this.legs(list).sort((a, b) => Number(a.orderId === list.workingOrderId) - Number(b.orderId === list.workingOrderId));
    for (const leg of legs) if (isOpen(leg)) this.engine.finish(leg, 'CANCELED', now, undefined, cancelClientOrderId);
    list.listStatusType = 'ALL_DONE';
    list.listOrderStatus = 'ALL_DONE';
    list.transactionTime = now;
    this.engine.emit('listStatus', list, this.legs(list));
    return list;
  }

  listLegs(list: OrderList): InternalOrder[] {
    return this.legs(list);
  }
}
