/**
 * The order requests' parameters as Binance parses them (POST /api/v3/order, the OCO and OTO
 * families' legs, selfTradePreventionMode), each complaint in Binance's order and words. Shared
 * by the REST routes (routes.ts, oto-routes.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Engine, NewOrderParams, OcoLeg, OcoParams, OrderTypeName, Side, Tif } from './engine';
import { knownSymbol, type Params } from './params';
import { STP_MODES, type StpMode } from './self-trade-prevention';
import { badRequest, mandatory, notRequired } from './wire';

const ORDER_TYPES: readonly OrderTypeName[] = ['MARKET', 'LIMIT', 'LIMIT_MAKER', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'];
const SIDES: readonly Side[] = ['BUY', 'SELL'];
const TIFS: readonly Tif[] = ['GTC', 'IOC', 'FOK'];

export function generatedClientId(): string {
  return randomBytes(16).toString('base64url').slice(0, 22);
}

/** `selfTradePreventionMode`, on every order and order list; whether the symbol allows it is the engine's check. */
export function stpModeParam(p: Params): StpMode | undefined {
  return p.enumOf('selfTradePreventionMode', STP_MODES, -1100, `Illegal characters found in parameter 'selfTradePreventionMode'; legal range is '${STP_MODES.join(', ')}'.`);
}

/** Parses and checks POST /api/v3/order parameters in Binance's order of complaints. */
export function parseNewOrder(p: Params, engine: Engine): NewOrderParams & { respType: 'ACK' | 'RESULT' | 'FULL' } {
  const symbol = p.required('symbol');
  // Binance checks the symbol before anything else about the order.
  engine.symbolDef(symbol);
  const side = p.enumOf('side', SIDES, -1117, 'Invalid side.');
  if (!side) throw mandatory('side');
  const type = p.enumOf('type', ORDER_TYPES, -1116, 'Invalid orderType.');
  if (!type) throw mandatory('type');
  const timeInForce = p.enumOf('timeInForce', TIFS, -1115, 'Invalid timeInForce.');
  const quantity = p.decimal('quantity', 8);
  const quoteOrderQty = p.decimal('quoteOrderQty', 8);
  const price = p.decimal('price', 8);
  const stopPrice = p.decimal('stopPrice', 8);
  const newClientOrderId = p.clientId('newClientOrderId') ?? generatedClientId();
  const respRaw = p.enumOf('newOrderRespType', ['ACK', 'RESULT', 'FULL'] as const, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.");
  if (p.has('icebergQty') || p.has('trailingDelta')) throw badRequest(-1020, 'This operation is not supported.');
  const selfTradePreventionMode = stpModeParam(p);

  const needsTif = type === 'LIMIT' || type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT_LIMIT';
  const needsPrice = needsTif || type === 'LIMIT_MAKER';
  const needsStop = type === 'STOP_LOSS' || type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT' || type === 'TAKE_PROFIT_LIMIT';
  if (needsTif && !timeInForce) throw mandatory('timeInForce');
  if (!needsTif && timeInForce) throw notRequired('timeInForce');
  if (type === 'MARKET') {
    if (!quantity && !quoteOrderQty) throw badRequest(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!");
    if (quantity && quoteOrderQty) throw notRequired('quoteOrderQty');
  } else {
    if (!quantity) throw mandatory('quantity');
    if (quoteOrderQty) throw notRequired('quoteOrderQty');
  }
  if (needsPrice && !price) throw mandatory('price');
  if (!needsPrice && price) throw notRequired('price');
  if (needsStop && !stopPrice) throw mandatory('stopPrice');
  if (!needsStop && stopPrice) throw notRequired('stopPrice');
  const respType = respRaw ?? (type === 'MARKET' || type === 'LIMIT' ? 'FULL' : 'ACK');
  return { symbol, side, type, timeInForce, quantity, quoteOrderQty, price, stopPrice, newClientOrderId, respType, selfTradePreventionMode };
}

const ABOVE_TYPES: readonly OrderTypeName[] = ['STOP_LOSS_LIMIT', 'STOP_LOSS', 'LIMIT_MAKER', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'];
const BELOW_TYPES: readonly OrderTypeName[] = ['STOP_LOSS', 'STOP_LOSS_LIMIT', 'LIMIT_MAKER', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'];

/** One leg of an OCO pair; `prefix` is `above`/`below` for an OCO, `pendingAbove`/`pendingBelow` for an OTOCO. */
export function ocoLeg(p: Params, position: 'above' | 'below', prefix: string = position): OcoLeg {
  const allowed = position === 'above' ? ABOVE_TYPES : BELOW_TYPES;
  const type = p.enumOf(`${prefix}Type`, allowed, -1158, 'Order type not supported in OCO.');
  if (!type) throw mandatory(`${prefix}Type`);
  const price = p.decimal(`${prefix}Price`, 8);
  const stopPrice = p.decimal(`${prefix}StopPrice`, 8);
  const timeInForce = p.enumOf(`${prefix}TimeInForce`, TIFS, -1115, 'Invalid timeInForce.');
  const needsPrice = type === 'LIMIT_MAKER' || type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT_LIMIT';
  const needsStop = type !== 'LIMIT_MAKER';
  const needsTif = type === 'STOP_LOSS_LIMIT' || type === 'TAKE_PROFIT_LIMIT';
  if (needsPrice && !price) throw mandatory(`${prefix}Price`);
  if (!needsPrice && price) throw notRequired(`${prefix}Price`);
  if (needsStop && !stopPrice) throw mandatory(`${prefix}StopPrice`);
  if (!needsStop && stopPrice) throw notRequired(`${prefix}StopPrice`);
  if (needsTif && !timeInForce) throw mandatory(`${prefix}TimeInForce`);
  if (!needsTif && timeInForce) throw notRequired(`${prefix}TimeInForce`);
  return { type, price, stopPrice, timeInForce, newClientOrderId: p.clientId(`${prefix}ClientOrderId`) ?? generatedClientId() };
}

export function parseOco(p: Params, engine: Engine): OcoParams & { respType: 'ACK' | 'RESULT' | 'FULL' } {
  const symbol = knownSymbol(p, engine);
  const side = p.enumOf('side', SIDES, -1117, 'Invalid side.');
  if (!side) throw mandatory('side');
  const quantity = p.decimal('quantity', 8);
  if (!quantity) throw mandatory('quantity');
  const above = ocoLeg(p, 'above');
  const below = ocoLeg(p, 'below');
  const respType = p.enumOf('newOrderRespType', ['ACK', 'RESULT', 'FULL'] as const, -1100, "Illegal characters found in parameter 'newOrderRespType'; legal range is 'ACK, RESULT, FULL'.") ?? 'ACK';
  return { symbol, side, quantity, listClientOrderId: p.clientId('listClientOrderId') ?? generatedClientId(), above, below, respType, selfTradePreventionMode: stpModeParam(p) };
}
