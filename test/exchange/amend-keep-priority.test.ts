/**
 * Binance's order amend keep priority (PUT /api/v3/order/amend/keepPriority, GET
 * /api/v3/order/amendments, the MAX_NUM_ORDER_AMENDS filter, -2038) on the paper exchange, over
 * HTTP with the project's client, and the amend's executionReport (x REPLACED) on the WebSocket
 * API's user data stream.
 */
import { UserDataStream, type ExecutionReport } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { eventually } from '../support/trade-harness';
import { admin } from './admin-http';
import { cid, expectBinanceError, harnessEach } from './helpers';

describe('order amend keep priority', () => {
  const ref = harnessEach({ syncTime: true });

  const buy = (id: string, quantity: string, price = '45000.00') =>
    ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity, price, newClientOrderId: id });
  const usdt = async () => (await ref.h.client.account()).balances.find((b) => b.asset === 'USDT')!;

  test('reduces the quantity in place: same orderId, the lock shrinks, the response as rest-api.md has it', async () => {
    const id = cid('am');
    const placed = await buy(id, '0.01');
    const lockedBefore = Number((await usdt()).locked);
    const r = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.006' });
    expect(r).toEqual({
      transactTime: expect.any(Number),
      executionId: expect.any(Number),
      amendedOrder: {
        symbol: 'BTCUSDT',
        orderId: placed.orderId,
        orderListId: -1,
        origClientOrderId: id,
        clientOrderId: id,
        price: '45000.00000000',
        qty: '0.00600000',
        executedQty: '0.00000000',
        preventedQty: '0.00000000',
        quoteOrderQty: '0.00000000',
        cumulativeQuoteQty: '0.00000000',
        status: 'NEW',
        timeInForce: 'GTC',
        type: 'LIMIT',
        side: 'BUY',
        workingTime: expect.any(Number),
        // The symbol's defaultSelfTradePreventionMode (exchangeInfo), since the order named none.
        selfTradePreventionMode: 'EXPIRE_MAKER',
      },
    });
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', orderId: placed.orderId })).toMatchObject({ clientOrderId: id, origQty: '0.00600000', status: 'NEW' });
    // 0.004 BTC less to buy at 45000: 180 USDT released.
    expect(Number((await usdt()).locked)).toBeCloseTo(lockedBefore - 180, 8);

    // Without newClientOrderId the order gets a generated id, as on Binance.
    const again = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', orderId: placed.orderId, newQty: '0.005' });
    expect(again.amendedOrder.origClientOrderId).toBe(id);
    expect(again.amendedOrder.clientOrderId).not.toBe(id);
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: again.amendedOrder.clientOrderId })).toMatchObject({ orderId: placed.orderId, origQty: '0.00500000' });
    expect(await expectBinanceError(ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id }))).toMatchObject({ kind: 'not_found' });
  });

  test('keeps queue priority at the touch, where a cancel-replace goes behind', async () => {
    // BTCUSDT's best level holds 0.5: at the touch the queue shares it, first come first served.
    const a = cid('pa');
    const b = cid('pb');
    await buy(a, '0.4', '49000.00');
    await buy(b, '0.4', '49000.00');
    await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: a, newClientOrderId: a, newQty: '0.3' });
    ref.h.ex.setPrice('BTCUSDT', '49000.00');
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: a })).toMatchObject({ status: 'FILLED', executedQty: '0.30000000' });
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: b })).toMatchObject({ status: 'PARTIALLY_FILLED', executedQty: '0.20000000' });

    // The same book, reduced by cancel-replace instead: the replacement queues behind b2.
    ref.h.ex.setPrice('BTCUSDT', '50000.00');
    const a2 = cid('pa');
    const b2 = cid('pb');
    await buy(a2, '0.4', '48000.00');
    await buy(b2, '0.4', '48000.00');
    const a2r = cid('pr');
    const cr = await ref.h.client.cancelReplace({
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      quantity: '0.3',
      price: '48000.00',
      newClientOrderId: a2r,
      cancelReplaceMode: 'STOP_ON_FAILURE',
      cancelOrigClientOrderId: a2,
    });
    expect(cr.newOrderResult).toBe('SUCCESS');
    ref.h.ex.setPrice('BTCUSDT', '48000.00');
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: b2 })).toMatchObject({ status: 'FILLED', executedQty: '0.40000000' });
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: a2r })).toMatchObject({ status: 'PARTIALLY_FILLED', executedQty: '0.10000000' });
  });

  test('refuses an increase and a no-op with -2038, the order unchanged', async () => {
    const id = cid('am');
    await buy(id, '0.01');
    const up = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.02' }));
    expect(up).toMatchObject({ kind: 'rejected', httpStatus: 400, code: -2038, msg: 'Order amend (quantity increase) is not supported.' });
    const same = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.01' }));
    expect(same).toMatchObject({ kind: 'rejected', code: -2038, msg: 'The requested action would change no state; rejecting' });
    const lot = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.000001' }));
    expect(lot).toMatchObject({ kind: 'rejected', code: -1013, msg: 'Filter failure: LOT_SIZE' });
    const unknown = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: 'nope', newQty: '0.001' }));
    expect(unknown).toMatchObject({ kind: 'rejected', code: -2038, msg: 'Unknown order sent.' });
    expect(ref.h.ex.findOrder('BTCUSDT', id)).toMatchObject({ origQty: '0.01000000', status: 'NEW' });
    const notSent = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', newQty: '0.001' }));
    expect(notSent.msg).toMatch(/invalid request, not sent: .*orderId or origClientOrderId is required/);
  });

  test('MAX_NUM_ORDER_AMENDS from exchangeInfo is enforced with -2038; GET /api/v3/order/amendments lists them', async () => {
    const info = await ref.h.client.exchangeInfo(['BTCUSDT']);
    const sym = info.symbols[0]!;
    expect(sym.amendAllowed).toBe(true);
    const filter = sym.filters.find((f) => f.filterType === 'MAX_NUM_ORDER_AMENDS');
    expect(filter).toEqual({ filterType: 'MAX_NUM_ORDER_AMENDS', maxNumOrderAmends: 10 });
    expect(sym.unknownFilterTypes).not.toContain('MAX_NUM_ORDER_AMENDS');

    const id = cid('am');
    const placed = await buy(id, '0.02');
    const ids: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const r = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', orderId: placed.orderId, newClientOrderId: id, newQty: (0.02 - i * 0.001).toFixed(3) });
      ids.push(r.executionId);
    }
    const eleventh = await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', orderId: placed.orderId, newClientOrderId: id, newQty: '0.005' }));
    expect(eleventh).toMatchObject({ kind: 'rejected', httpStatus: 400, code: -2038, msg: 'Filter failure: MAX_NUM_ORDER_AMENDS' });
    expect(ref.h.ex.findOrder('BTCUSDT', id)?.origQty).toBe('0.01000000');

    const all = await ref.h.client.orderAmendments({ symbol: 'BTCUSDT', orderId: placed.orderId });
    expect(all.map((a) => a.executionId)).toEqual(ids);
    expect(all[0]).toEqual({ symbol: 'BTCUSDT', orderId: placed.orderId, executionId: ids[0], origClientOrderId: id, newClientOrderId: id, origQty: '0.02000000', newQty: '0.01900000', time: expect.any(Number) });
    expect(all[9]).toMatchObject({ origQty: '0.01100000', newQty: '0.01000000' });
    const tail = await ref.h.client.orderAmendments({ symbol: 'BTCUSDT', orderId: placed.orderId, fromExecutionId: ids[7], limit: 2 });
    expect(tail.map((a) => a.executionId)).toEqual([ids[7], ids[8]]);
    expect(await expectBinanceError(ref.h.client.orderAmendments({ symbol: 'BTCUSDT', orderId: 999_999 }))).toMatchObject({ kind: 'not_found', code: -2013 });
  });

  test('a partially filled order: executedQty kept, newQty above it leaves the rest working; at or below it the order expires', async () => {
    const id = cid('pf');
    const placed = await buy(id, '0.01');
    const lockedBefore = Number((await usdt()).locked) - 450; // what was locked before this order
    expect((await admin(ref.h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.004' })).status).toBe(200);

    const r = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.007' });
    expect(r.amendedOrder).toMatchObject({ qty: '0.00700000', executedQty: '0.00400000', cumulativeQuoteQty: '180.00000000', status: 'PARTIALLY_FILLED' });
    // Only 0.003 can still fill; the lock is 0.003 x 45000.
    expect(Number((await usdt()).locked)).toBeCloseTo(lockedBefore + 135, 8);
    const over = await admin<{ error: string }>(ref.h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.004' });
    expect([over.status, over.json.error]).toEqual([400, expect.stringMatching(/more than the order's remaining 0\.003/)]);

    // Amended to what has filled: nothing is left to work; the order expires with its fills.
    const done = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.004' });
    expect(done.amendedOrder).toMatchObject({ qty: '0.00400000', executedQty: '0.00400000', status: 'EXPIRED' });
    expect(await ref.h.client.getOrder({ symbol: 'BTCUSDT', orderId: placed.orderId })).toMatchObject({ status: 'EXPIRED', executedQty: '0.00400000' });
    expect(Number((await usdt()).locked)).toBeCloseTo(lockedBefore, 8);
    expect(await expectBinanceError(ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newQty: '0.003' }))).toMatchObject({ code: -2038, msg: 'Unknown order sent.' });

    // Below what has filled, likewise: expired, the executed quantity as it was.
    const id2 = cid('pf');
    await buy(id2, '0.01');
    await admin(ref.h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id2, quantity: '0.005' });
    const below = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id2, newClientOrderId: id2, newQty: '0.002' });
    expect(below.amendedOrder).toMatchObject({ executedQty: '0.00500000', status: 'EXPIRED' });
    expect((await ref.h.client.myTrades({ symbol: 'BTCUSDT', orderId: below.amendedOrder.orderId })).map((t) => t.qty)).toEqual(['0.00500000']);
  });

  test('the amend reaches the user data stream as executionReport x REPLACED with the response executionId', async () => {
    const reports: ExecutionReport[] = [];
    const stream = new UserDataStream({ wsUrl: ref.h.ex.wsUrl, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    stream.on('executionReport', (e) => reports.push(e));
    await stream.start();
    try {
      const id = cid('ws');
      const placed = await buy(id, '0.01');
      const newId = cid('ws2');
      const r = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: newId, newQty: '0.008' });
      const ev = await eventually('the REPLACED executionReport', () => reports.find((e) => e.x === 'REPLACED'), 10_000);
      expect(ev).toMatchObject({ e: 'executionReport', s: 'BTCUSDT', i: placed.orderId, c: newId, C: id, x: 'REPLACED', X: 'NEW', q: '0.00800000', z: '0.00000000', l: '0.00000000', I: r.executionId, w: true });
      const newEv = reports.find((e) => e.x === 'NEW' && e.i === placed.orderId)!;
      expect(newEv.I).toBeLessThan(ev.I);
    } finally {
      await stream.close();
    }
  });

  test('amending an OCO leg amends both legs and reports the list', async () => {
    const list = cid('oco');
    const above = cid('ab');
    const below = cid('be');
    await ref.h.client.newOco({
      symbol: 'BTCUSDT',
      side: 'SELL',
      quantity: '0.01',
      listClientOrderId: list,
      aboveType: 'LIMIT_MAKER',
      aboveClientOrderId: above,
      abovePrice: '55000.00',
      belowType: 'STOP_LOSS_LIMIT',
      belowClientOrderId: below,
      belowStopPrice: '45000.00',
      belowPrice: '44900.00',
      belowTimeInForce: 'GTC',
    });
    const btcLocked = async () => Number((await ref.h.client.account()).balances.find((b) => b.asset === 'BTC')!.locked);
    const lockedBefore = await btcLocked();
    const r = await ref.h.client.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: above, newClientOrderId: above, newQty: '0.006' });
    expect(r.listStatus).toEqual({
      orderListId: r.amendedOrder.orderListId,
      contingencyType: 'OCO',
      listOrderStatus: 'EXECUTING',
      listClientOrderId: list,
      symbol: 'BTCUSDT',
      orders: expect.arrayContaining([expect.objectContaining({ clientOrderId: above }), expect.objectContaining({ clientOrderId: below })]),
    });
    expect(ref.h.ex.findOrder('BTCUSDT', above)?.origQty).toBe('0.00600000');
    expect(ref.h.ex.findOrder('BTCUSDT', below)?.origQty).toBe('0.00600000');
    expect(await btcLocked()).toBeCloseTo(lockedBefore - 0.004, 8);
  });
});
