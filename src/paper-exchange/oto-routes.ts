/**
 * POST /api/v3/orderList/oto, /otoco, /opo and /opoco (rest-api.md "New Order list - OTO" and
 * what follows): parameters parsed in Binance's spelling and order of complaints, then handed to
 * Engine.placeOto. OPO and OPOCO are OTO and OTOCO without a pending quantity (faqs/opo.md).
 */
import type { OcoLeg, OrderTypeName, OtoParams, Side, Tif } from './engine';
import { orderFullJson, orderResultJson, listStatusJson } from './format';
import { knownSymbol, type Params } from './params';
import { generatedClientId, ocoLeg, stpModeParam } from './order-params';
import type { Ctx, Route } from './routes';
import { badRequest, mandatory, notRequired } from './wire';

const SIDES: readonly Side[] = ['BUY', 'SELL'];
const TIFS: readonly Tif[] = ['GTC', 'IOC', 'FOK'];
const WORKING_TYPES: readonly OrderTypeName[] = ['LIMIT', 'LIMIT_MAKER'];
/** An OTO's single pending order: any type but MARKET by quoteOrderQty (which it cannot express). */
const PENDING_TYPES: readonly OrderTypeName[] = ['MARKET', 'LIMIT', 'LIMIT_MAKER', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'];

type Shape = { pair: boolean; pays: boolean };

function side(p: Params, name: string): Side {
  const v = p.enumOf(name, SIDES, -1117, 'Invalid side.');
  if (!v) throw mandatory(name);
  return v;
}

/** The single pending order of an OTO/OPO: `pendingType`, `pendingPrice`, `pendingStopPrice`, `pendingTimeInForce`. */
function singlePending(p: Params): OcoLeg {
  const type = p.enumOf('pendingType', PENDING_TYPES, -1116, 'Invalid orderType.');
  if (!type) throw mandatory('pendingType');
  const price = p.decimal('pendingPrice', 8);
  const stopPrice = p.decimal('pendingStopPrice', 8);
  const timeInForce = p.enumOf('pendingTimeInForce', TIFS, -1115, 'Invalid timeInForce.');
  const needsTif = type === 'LIMIT' || type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT_LIMIT';
  const needsPrice = needsTif || type === 'LIMIT_MAKER';
  const needsStop = type === 'STOP_LOSS' || type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT' || type === 'TAKE_PROFIT_LIMIT';
  if (needsPrice && !price) throw mandatory('pendingPrice');
  if (!needsPrice && price) throw notRequired('pendingPrice');
  if (needsStop && !stopPrice) throw mandatory('pendingStopPrice');
  if (!needsStop && stopPrice) throw notRequired('pendingStopPrice');
  if (needsTif && !timeInForce) throw mandatory('pendingTimeInForce');
  if (!needsTif && timeInForce) throw notRequired('pendingTimeInForce');
  return { type, price, stopPrice, timeInForce, newClientOrderId: p.clientId('pendingClientOrderId') ?? generatedClientId() };
}

export function parseOto(p: Params, ctx: Ctx, shape: Shape): OtoParams & { respType: 'ACK' | 'RESULT' | 'FULL' } {
  const symbol = knownSymbol(p, ctx.engine);
  if (p.has('workingIcebergQty') || p.has('pendingIcebergQty') || p.has('pendingAboveIcebergQty') || p.has('pendingBelowIcebergQty')) {
    throw badRequest(-1020, 'This operation is not supported.');
  }
  const workingType = p.enumOf('workingType', WORKING_TYPES, -1116, 'Invalid orderType.');
  if (!workingType) throw mandatory('workingType');
  const workingSide = side(p, 'workingSide');
  const workingPrice = p.decimal('workingPrice', 8);
  if (!workingPrice) throw mandatory('workingPrice');
  const workingQuantity = p.decimal('workingQuantity', 8);
  if (!workingQuantity) throw mandatory('workingQuantity');
  const workingTimeInForce = p.enumOf('workingTimeInForce', TIFS, -1115, 'Invalid timeInForce.');
  if (workingType === 'LIMIT' && !workingTimeInForce) throw mandatory('workingTimeInForce');
  if (workingType === 'LIMIT_MAKER' && workingTimeInForce) throw notRequired('workingTimeInForce');
  const pendingSide = side(p, 'pendingSide');
  const pendingQuantity = p.decimal('pendingQuantity', 8);
  if (!shape.pays && !pendingQuantity) throw mandatory('pendingQuantity');
  if (shape.pays && pendingQuantity) throw notRequired('pendingQuantity');
  const pending = shape.pair ? [ocoLeg(p, 'above', 'pendingAbove'), ocoLeg(p, 'below', 'pendingBelow')] : [singlePending(p)];
  const respType = p.enumOf('newOrderRespType', ['ACK', 'RESULT', 'FULL'] as const, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.") ?? 'ACK';
  return {
    symbol,
    listClientOrderId: p.clientId('listClientOrderId') ?? generatedClientId(),
    pays: shape.pays,
    working: { type: workingType, side: workingSide, price: workingPrice, quantity: workingQuantity, timeInForce: workingTimeInForce, newClientOrderId: p.clientId('workingClientOrderId') ?? generatedClientId() },
    pendingSide,
    pendingQuantity,
    pending,
    respType,
    selfTradePreventionMode: stpModeParam(p),
  };
}

/** The four OTO-family routes, registered with buildRoutes' `add`. */
export function addOtoRoutes(add: (method: string, path: string, route: Route) => void, acct: (c: Ctx) => { apiKey: string }): void {
  const shapes: Record<string, Shape & { orders: number }> = {
    oto: { pair: false, pays: false, orders: 2 },
    otoco: { pair: true, pays: false, orders: 3 },
    opo: { pair: false, pays: true, orders: 2 },
    opoco: { pair: true, pays: true, orders: 3 },
  };
  for (const [name, shape] of Object.entries(shapes)) {
    add('POST', `/api/v3/orderList/${name}`, {
      security: 'TRADE',
      matchingEngine: true,
      weight: () => 1,
      orders: shape.orders,
      handler: (c) => {
        const req = parseOto(c.params, c, shape);
        const { list, orders, fills } = c.engine.placeOto(acct(c).apiKey, req);
        // The orderReports carry RESULT fields at least (as Binance's examples show); FULL adds the working order's fills.
        const report = (o: (typeof orders)[number], i: number): Record<string, unknown> =>
          req.respType === 'FULL' && i === 0 ? orderFullJson(o, c.now, fills) : orderResultJson(o, c.now);
        return { ...listStatusJson(list, orders), orderReports: orders.map(report) };
      },
    });
  }
}
