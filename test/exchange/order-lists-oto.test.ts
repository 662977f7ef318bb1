/**
 * The OTO family of order lists (rest-api.md "New Order list - OTO/OTOCO/OPO/OPOCO", faqs/opo.md)
 * through our client against the paper exchange over HTTP, and through Binance's own connector
 * `@binance/spot` unchanged: only the working order is on the book; its pending order(s) are
 * placed the moment it is fully filled; a working order that ends otherwise takes them with it.
 */
import { Spot, SpotRestAPI } from '@binance/spot';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { cid, expectBinanceError, harness, type Harness } from './helpers';

let h: Harness;
const BTC = 'BTCUSDT';

beforeEach(async () => {
  h = await harness();
  h.ex.setPrice(BTC, '60000.00');
});
afterEach(() => h.close());

const status = (id: string): string | undefined => h.ex.findOrder(BTC, id)?.status;

function otoco(overrides: Record<string, string> = {}) {
  const ids = { list: cid('l'), working: cid('w'), above: cid('a'), below: cid('b') };
  return {
    ids,
    req: {
      symbol: BTC,
      listClientOrderId: ids.list,
      workingType: 'LIMIT' as const,
      workingSide: 'BUY' as const,
      workingClientOrderId: ids.working,
      workingPrice: '59000',
      workingQuantity: '0.01',
      workingTimeInForce: 'GTC' as const,
      pendingSide: 'SELL' as const,
      pendingQuantity: '0.009',
      pendingAboveType: 'LIMIT_MAKER' as const,
      pendingAboveClientOrderId: ids.above,
      pendingAbovePrice: '61000',
      pendingBelowType: 'STOP_LOSS_LIMIT' as const,
      pendingBelowClientOrderId: ids.below,
      pendingBelowPrice: '57900',
      pendingBelowStopPrice: '58000',
      pendingBelowTimeInForce: 'GTC' as const,
      ...overrides,
    },
  };
}

test('OTOCO: pending pair PENDING_NEW and unlocked until the working order fills; then live at the fill time, one leg fills, the other expires', async () => {
  const { ids, req } = otoco();
  const placed = await h.client.newOtoco(req);
  expect(placed).toMatchObject({ contingencyType: 'OTO', listStatusType: 'EXEC_STARTED', listOrderStatus: 'EXECUTING', listClientOrderId: ids.list });
  expect(placed.orderReports.map((r) => [r.clientOrderId, r.status])).toEqual([
    [ids.working, 'NEW'],
    [ids.below, 'PENDING_NEW'],
    [ids.above, 'PENDING_NEW'],
  ]);
  // Only the working order's funds are locked: 59000 x 0.01 USDT; no BTC yet.
  expect(h.ex.balances().USDT!.locked).toBe('590.00000000');
  expect(h.ex.balances().BTC!.locked).toBe('0.00000000');
  // A pending order is not on the book: the price through its stop triggers nothing.
  h.ex.setPrice(BTC, '59500.00');
  expect([status(ids.below), status(ids.above)]).toEqual(['PENDING_NEW', 'PENDING_NEW']);

  h.ex.setPrice(BTC, '58999.00');
  expect(status(ids.working)).toBe('FILLED');
  const fillTime = h.ex.trades(BTC).filter((t) => t.orderId === h.ex.findOrder(BTC, ids.working)!.orderId).at(-1)!.time;
  const above = h.ex.findOrder(BTC, ids.above)!;
  const below = h.ex.findOrder(BTC, ids.below)!;
  expect([above.status, below.status]).toEqual(['NEW', 'NEW']);
  expect([above.updateTime, below.updateTime, above.workingTime]).toEqual([fillTime, fillTime, fillTime]);
  expect([above.origQty, below.origQty]).toEqual(['0.00900000', '0.00900000']);
  expect(h.ex.balances().BTC!.locked).toBe('0.00900000');

  h.ex.setPrice(BTC, '61000.01');
  expect([status(ids.above), status(ids.below)]).toEqual(['FILLED', 'EXPIRED']);
  expect(h.ex.findOrder(BTC, ids.below)?.expiryReason).toBe('OCO_TRIGGER');
  const list = await h.client.getOrderList({ origClientOrderId: ids.list });
  expect(list.listOrderStatus).toBe('ALL_DONE');
  expect(h.ex.balances().BTC!.locked).toBe('0.00000000');
});

test('OPOCO: the pair gets what the working order received net of its commission; OPO with a SELL working order is refused', async () => {
  const { ids, req } = otoco();
  const { pendingQuantity: _omitted, ...opoco } = req;
  const placed = await h.client.newOpoco(opoco);
  // Binance leaves origQty out of a pending OPO order's report (no quantity yet): on the wire it
  // is absent (the paper exchange would print '0.00000000'), and the client reads it as 0.
  expect(placed.orderReports.map((r) => [r.status, r.origQty])).toEqual([
    ['NEW', '0.01000000'],
    ['PENDING_NEW', '0'],
    ['PENDING_NEW', '0'],
  ]);
  h.ex.setPrice(BTC, '58999.00');
  const working = h.ex.findOrder(BTC, ids.working)!;
  const commission = h.ex.trades(BTC).filter((t) => t.orderId === working.orderId).map((t) => [t.commission, t.commissionAsset]);
  expect(commission).toEqual([['0.00001000', 'BTC']]);
  expect([h.ex.findOrder(BTC, ids.above)!.origQty, h.ex.findOrder(BTC, ids.below)!.origQty]).toEqual(['0.00999000', '0.00999000']);

  const sell = otoco({ workingSide: 'SELL', pendingSide: 'BUY', workingPrice: '61000', pendingAbovePrice: '62000', pendingBelowPrice: '59900', pendingBelowStopPrice: '60000' });
  const { pendingQuantity: _q, ...sellOpoco } = sell.req;
  const err = await expectBinanceError(h.client.newOpoco(sellOpoco));
  expect([err.code, err.kind]).toEqual([-2010, 'rejected']);
  expect(status(sell.ids.working)).toBeUndefined();
});

test('cancelling the working order cancels the list: pending orders CANCELED, funds back', async () => {
  const { ids, req } = otoco();
  await h.client.newOtoco(req);
  await h.client.cancelOrder({ symbol: BTC, origClientOrderId: ids.working });
  expect([status(ids.working), status(ids.below), status(ids.above)]).toEqual(['CANCELED', 'CANCELED', 'CANCELED']);
  expect(h.ex.balances().USDT!.locked).toBe('0.00000000');
});

test('an IOC working order that fills partly expires, and its pending order expires with it', async () => {
  const ids = { list: cid('l'), working: cid('w'), pending: cid('p') };
  // An IOC BUY at the best ask for more than that level holds takes the level and expires the rest.
  const book = (await (await fetch(`${h.ex.url}/api/v3/depth?symbol=${BTC}&limit=5`)).json()) as { asks: [string, string][] };
  const [bestAsk, bestAskQty] = book.asks[0]!;
  await h.client.newOto({
    symbol: BTC,
    listClientOrderId: ids.list,
    workingType: 'LIMIT',
    workingSide: 'BUY',
    workingClientOrderId: ids.working,
    workingPrice: bestAsk,
    workingQuantity: (Number(bestAskQty) + 0.5).toFixed(5),
    workingTimeInForce: 'IOC',
    pendingSide: 'SELL',
    pendingType: 'LIMIT_MAKER',
    pendingClientOrderId: ids.pending,
    pendingPrice: '65000',
    pendingQuantity: '1',
  });
  const working = h.ex.findOrder(BTC, ids.working)!;
  expect(working.status).toBe('EXPIRED');
  expect(working.executedQty).toBe(Number(bestAskQty).toFixed(8));
  expect(status(ids.pending)).toBe('EXPIRED');
});

test('refusals: a pair on the wrong side of the working price, a missing pendingQuantity, a re-used open client id', async () => {
  const wrong = otoco({ pendingAbovePrice: '58500' });
  expect((await expectBinanceError(h.client.newOtoco(wrong.req))).code).toBe(-2010);
  expect(status(wrong.ids.working)).toBeUndefined();

  const first = otoco();
  await h.client.newOtoco(first.req);
  const again = otoco({ workingClientOrderId: first.ids.working });
  expect((await expectBinanceError(h.client.newOtoco(again.req))).code).toBe(-2010);

  const res = await fetch(`${h.ex.url}/api/v3/orderList/otoco?symbol=${BTC}`, { method: 'POST', headers: { 'X-MBX-APIKEY': PAPER_DEFAULT_API_KEY } });
  expect(res.status).toBe(400);
});

test('@binance/spot unchanged: orderListOtoco and orderListOpoco place the lists, fields as the library types them', async () => {
  const spot = new Spot({ configurationRestAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, basePath: h.ex.url, retries: 0, timeout: 5000 } });
  const rest = spot.restAPI;
  const ids = { list: cid('l'), working: cid('w'), above: cid('a'), below: cid('b') };
  const res = await rest.orderListOtoco({
    symbol: BTC,
    listClientOrderId: ids.list,
    workingType: SpotRestAPI.OrderListOtocoWorkingTypeEnum.LIMIT,
    workingSide: SpotRestAPI.OrderListOtocoWorkingSideEnum.BUY,
    workingClientOrderId: ids.working,
    workingPrice: 59000,
    workingQuantity: 0.01,
    workingTimeInForce: SpotRestAPI.OrderListOtocoWorkingTimeInForceEnum.GTC,
    pendingSide: SpotRestAPI.OrderListOtocoPendingSideEnum.SELL,
    pendingQuantity: 0.009,
    pendingAboveType: SpotRestAPI.OrderListOtocoPendingAboveTypeEnum.LIMIT_MAKER,
    pendingAboveClientOrderId: ids.above,
    pendingAbovePrice: 61000,
    pendingBelowType: SpotRestAPI.OrderListOtocoPendingBelowTypeEnum.STOP_LOSS_LIMIT,
    pendingBelowClientOrderId: ids.below,
    pendingBelowPrice: 57900,
    pendingBelowStopPrice: 58000,
    pendingBelowTimeInForce: SpotRestAPI.OrderListOtocoPendingBelowTimeInForceEnum.GTC,
  });
  const list = await res.data();
  expect(list).toMatchObject({ contingencyType: 'OTO', listClientOrderId: ids.list, listOrderStatus: 'EXECUTING' });
  expect(list.orders?.map((o) => o.clientOrderId)).toEqual([ids.working, ids.below, ids.above]);
  expect(list.orderReports?.map((o) => o.status)).toEqual(['NEW', 'PENDING_NEW', 'PENDING_NEW']);

  const opIds = { list: cid('l'), working: cid('w'), above: cid('a'), below: cid('b') };
  const opoco = await (
    await rest.orderListOpoco({
      symbol: BTC,
      listClientOrderId: opIds.list,
      workingType: SpotRestAPI.OrderListOpocoWorkingTypeEnum.LIMIT,
      workingSide: SpotRestAPI.OrderListOpocoWorkingSideEnum.BUY,
      workingClientOrderId: opIds.working,
      workingPrice: 58500,
      workingQuantity: 0.002,
      workingTimeInForce: SpotRestAPI.OrderListOpocoWorkingTimeInForceEnum.GTC,
      pendingSide: SpotRestAPI.OrderListOpocoPendingSideEnum.SELL,
      pendingAboveType: SpotRestAPI.OrderListOpocoPendingAboveTypeEnum.LIMIT_MAKER,
      pendingAboveClientOrderId: opIds.above,
      pendingAbovePrice: 61000,
      pendingBelowType: SpotRestAPI.OrderListOpocoPendingBelowTypeEnum.STOP_LOSS,
      pendingBelowClientOrderId: opIds.below,
      pendingBelowStopPrice: 57000,
    })
  ).data();
  expect(opoco.orderReports?.map((o) => [o.clientOrderId, o.status])).toEqual([
    [opIds.working, 'NEW'],
    [opIds.below, 'PENDING_NEW'],
    [opIds.above, 'PENDING_NEW'],
  ]);
  // Below both working prices, above both stops: the entries fill and nothing of the pairs triggers.
  h.ex.setPrice(BTC, '58400.00');
  expect([h.ex.findOrder(BTC, ids.working), h.ex.findOrder(BTC, opIds.working)].map((o) => [o?.status, o?.executedQty])).toEqual([['FILLED', '0.01000000'], ['FILLED', '0.00200000']]);
  expect([status(ids.above), status(ids.below), status(opIds.above), status(opIds.below)]).toEqual(['NEW', 'NEW', 'NEW', 'NEW']);
});

test('a working order that fills at once: the response shows its pending pair PENDING_NEW, as Binance does; the exchange has them live', async () => {
  // A BUY LIMIT well above the best ask takes liquidity at once.
  const { ids, req } = otoco({ workingPrice: '60100', pendingAbovePrice: '61000', pendingBelowPrice: '59000', pendingBelowStopPrice: '59100', workingQuantity: '0.001', pendingQuantity: '0.0009' });
  const placed = await h.client.newOtoco(req);
  expect(placed.orderReports.map((r) => [r.clientOrderId, r.status])).toEqual([
    [ids.working, 'FILLED'],
    [ids.below, 'PENDING_NEW'],
    [ids.above, 'PENDING_NEW'],
  ]);
  expect([status(ids.below), status(ids.above)]).toEqual(['NEW', 'NEW']);
});

test('an OTOCO counts 3 orders against MAX_NUM_ORDERS', async () => {
  await h.close();
  h = await harness({ limits: { maxNumOrdersPerSymbol: 4 } });
  h.ex.setPrice(BTC, '60000.00');
  await h.client.newOrder({ symbol: BTC, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '50000', newClientOrderId: cid('r') });
  await h.client.newOtoco(otoco().req);
  const refused = otoco();
  const err = await expectBinanceError(h.client.newOtoco(refused.req));
  expect([err.code, err.msg]).toEqual([-1013, 'Filter failure: MAX_NUM_ORDERS']);
  expect(status(refused.ids.working)).toBeUndefined();
});
