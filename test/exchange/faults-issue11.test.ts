/**
 * The situations of issue 11, produced on demand through the paper exchange's admin API over
 * loopback HTTP and met by the project's own client (src/exchange/client.ts):
 *   delayedResponse  an order that executed, whose response arrives after the client gave up;
 *   lateLanding      an order that lands after its connection dropped, inside recvWindow or not;
 *   POST /admin/fill a fill of an exact quantity on one resting order between two requests;
 *   outage           every request refused (503 or dropped) for a span of time;
 *   invalidApiKey    -2015 for a span of time;
 *   matchingDelay    Binance's third recvWindow check, just before the matching engine.
 * Waits are bounded with eventually(); nothing asserts how long anything took.
 */
import { BinanceSpotClient, UserDataStream, type BinanceClientOptions, type ExecutionReport } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, type Landing } from '../../src/paper-exchange';
import { eventually } from '../support/trade-harness';
import { admin, injectFault } from './admin-http';
import { cid, expectBinanceError, harness, type Harness } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('issue 11 faults over the admin API', () => {
  let h: Harness;
  const extra: BinanceSpotClient[] = [];
  beforeEach(async () => {
    h = await harness();
    h.ex.setPrice('BTCUSDT', '50000.00');
    await h.client.syncTime();
  });
  afterEach(async () => {
    for (const c of extra.splice(0)) await c.close();
    await h.close();
  });

  async function client(opts: Partial<BinanceClientOptions>): Promise<BinanceSpotClient> {
    const c = new BinanceSpotClient({ baseUrl: h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 3000, ...opts });
    extra.push(c);
    await c.syncTime();
    return c;
  }
  const market = (c: BinanceSpotClient, id: string) => c.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id });
  const limit = (c: BinanceSpotClient, id: string, price = '45000.00', quantity = '0.01') =>
    c.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity, price, newClientOrderId: id });
  const landings = async (): Promise<Landing[]> => (await admin<{ landings: Landing[] }>(h.ex.url, 'GET', '/admin/faults')).json.landings;
  /** Unfilled order count of the DAY window, which no test outlives. */
  const orderCount = async (): Promise<number> => (await h.client.orderCountUsage()).find((w) => w.interval === 'DAY')?.count ?? -1;

  test('delayedResponse: the order executes at once, the response comes after the client timed out', async () => {
    const fast = await client({ timeoutMs: 300 });
    const fault = await injectFault(h.ex.url, { kind: 'delayedResponse', ms: 2000, method: 'POST', path: '/api/v3/order' });
    const id = cid('dr');
    const e = await expectBinanceError(market(fast, id));
    expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: undefined });
    expect(e.msg).toMatch(/timed out/);
    expect(h.ex.faults.hits.get(fault)).toBe(1);
    // While its response is still held back, the order is there, filled, with its trade.
    const o = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    expect(o).toMatchObject({ clientOrderId: id, status: 'FILLED', executedQty: '0.00100000' });
    const trades = await h.client.myTrades({ symbol: 'BTCUSDT', orderId: o.orderId });
    expect(trades.map((t) => t.qty).reduce((a, q) => a + Number(q), 0)).toBeCloseTo(0.001, 8);
    // A patient client gets the real response, the order's FULL result.
    await injectFault(h.ex.url, { kind: 'delayedResponse', ms: 300, method: 'POST', path: '/api/v3/order' });
    const patient = await market(h.client, cid('dr'));
    expect(patient).toMatchObject({ status: 'FILLED', executedQty: '0.00100000' });
    expect(patient.fills.length).toBeGreaterThan(0);
  });

  test('lateLanding inside recvWindow: dropped connection, nothing yet, then the order lands', async () => {
    const fault = await injectFault(h.ex.url, { kind: 'lateLanding', ms: 1500, method: 'POST', path: '/api/v3/order' });
    const id = cid('ll');
    const e = await expectBinanceError(limit(h.client, id));
    expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: undefined, code: undefined });
    // Asked right away, the exchange does not know the order (the trap of concluding "absent")...
    expect(await expectBinanceError(h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id }))).toMatchObject({ kind: 'not_found', code: -2013 });
    // ...and then it lands, still inside its 5000 ms recvWindow.
    const landed = await eventually('the late order to land', async () => {
      try {
        return await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
      } catch {
        return undefined;
      }
    }, 20_000);
    expect(landed).toMatchObject({ clientOrderId: id, status: 'NEW', origQty: '0.01000000' });
    const [l] = await landings();
    expect(l).toMatchObject({ faultId: fault, method: 'POST', path: '/api/v3/order', executed: true, status: 200 });
    expect(l!.landedAt).toBeGreaterThanOrEqual(l!.receivedAt);
  });

  test('lateLanding past recvWindow: rejected -1021 at landing, nothing placed, ever', async () => {
    const tight = await client({ recvWindow: 300 });
    const fault = await injectFault(h.ex.url, { kind: 'lateLanding', ms: 1200, method: 'POST', path: '/api/v3/order' });
    const id = cid('ll');
    expect(await expectBinanceError(limit(tight, id))).toMatchObject({ kind: 'unknown_outcome' });
    const [l] = await eventually('the late request to reach the exchange', async () => {
      const list = await landings();
      return list.length > 0 ? list : undefined;
    }, 20_000);
    expect(l).toMatchObject({ faultId: fault, executed: false, status: 400, code: -1021 });
    expect(h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
    expect(await expectBinanceError(h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id }))).toMatchObject({ kind: 'not_found' });
  });

  test('POST /admin/fill: an exact partial then complete fill, as a real fill (trades, balances, executionReport)', async () => {
    const reports: ExecutionReport[] = [];
    const stream = new UserDataStream({ wsUrl: h.ex.wsUrl, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    stream.on('executionReport', (r) => reports.push(r));
    await stream.start();
    try {
      const id = cid('fill');
      const placed = await limit(h.client, id, '45000.00', '0.01');
      expect(placed.status).toBe('NEW');
      const before = await h.client.account();
      const bal = (a: typeof before, asset: string) => a.balances.find((b) => b.asset === asset)!;

      const one = await admin(h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.004' });
      expect(one).toMatchObject({ status: 200, json: { orderId: placed.orderId, clientOrderId: id, qty: '0.00400000', price: '45000.00000000', status: 'PARTIALLY_FILLED', executedQty: '0.00400000' } });
      // Between two client requests the order has moved, exactly by the injected quantity.
      expect(await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id })).toMatchObject({ status: 'PARTIALLY_FILLED', executedQty: '0.00400000', cummulativeQuoteQty: '180.00000000' });
      const mid = await h.client.account();
      // 0.004 BTC bought, less 0.1 % commission in BTC; 180 USDT of the lock spent.
      expect(bal(mid, 'BTC').free).toBe((Number(bal(before, 'BTC').free) + 0.004 - 0.000004).toFixed(8));
      expect(bal(mid, 'USDT').locked).toBe((Number(bal(before, 'USDT').locked) - 180).toFixed(8));

      const two = await admin(h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', orderId: placed.orderId, quantity: '0.006', price: '44990.00' });
      expect(two).toMatchObject({ status: 200, json: { status: 'FILLED', executedQty: '0.01000000', price: '44990.00000000' } });
      const trades = await h.client.myTrades({ symbol: 'BTCUSDT', orderId: placed.orderId });
      expect(trades.map((t) => [t.qty, t.price, t.isMaker])).toEqual([
        ['0.00400000', '45000.00000000', true],
        ['0.00600000', '44990.00000000', true],
      ]);
      const after = await h.client.account();
      // The lock is released entirely once the order is done (the price improvement too).
      expect(bal(after, 'USDT').locked).toBe((Number(bal(before, 'USDT').locked) - 450).toFixed(8));
      expect(bal(after, 'USDT').free).toBe((Number(bal(before, 'USDT').free) + 450 - 180 - 0.006 * 44990).toFixed(8));

      const fills = await eventually('both TRADE executionReports', () => {
        const t = reports.filter((r) => r.c === id && r.x === 'TRADE');
        return t.length === 2 ? t : undefined;
      }, 10_000);
      expect(fills.map((r) => [r.l, r.L, r.z, r.X, r.m])).toEqual([
        ['0.00400000', '45000.00000000', '0.00400000', 'PARTIALLY_FILLED', true],
        ['0.00600000', '44990.00000000', '0.01000000', 'FILLED', true],
      ]);
      expect(fills.map((r) => r.t)).toEqual(trades.map((t) => t.id));
    } finally {
      await stream.close();
    }
  });

  test('POST /admin/fill refuses what no real fill could be, naming the field', async () => {
    const id = cid('fill');
    await limit(h.client, id, '45000.00', '0.01');
    const refuse = async (body: unknown, pattern: RegExp) => {
      const r = await admin<{ error: string }>(h.ex.url, 'POST', '/admin/fill', body);
      expect([r.status, r.json.error]).toEqual([400, expect.stringMatching(pattern)]);
    };
    await refuse({ symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.02' }, /quantity: .*more than the order's remaining 0\.01/);
    await refuse({ symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.001', price: '45000.01' }, /price: .*worse than the order's limit/);
    await refuse({ symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.000001' }, /quantity: .*stepSize/);
    await refuse({ symbol: 'BTCUSDT', quantity: '0.001' }, /orderId or origClientOrderId is required/);
    await refuse({ symbol: 'BTCUSDT', origClientOrderId: 'nope', quantity: '0.001' }, /no order with origClientOrderId nope/);
    expect(h.ex.findOrder('BTCUSDT', id)).toMatchObject({ status: 'NEW', executedQty: '0.00000000' });
  });

  test('outage (http503): every request refused for its span, counted by time not requests, then served', async () => {
    const fault = await injectFault(h.ex.url, { kind: 'outage', ms: 2500 });
    const id = cid('out');
    const e = await expectBinanceError(market(h.client, id));
    expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: 503, code: undefined });
    expect(await expectBinanceError(h.client.ping())).toMatchObject({ httpStatus: 503 });
    expect(await expectBinanceError(h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id }))).toMatchObject({ httpStatus: 503 });
    // Still down after more requests than any count-based fault would absorb.
    for (let i = 0; i < 5; i++) expect(await expectBinanceError(h.client.ping())).toMatchObject({ httpStatus: 503 });
    expect(h.ex.faults.hits.get(fault)).toBe(8);
    // The admin API stays reachable during the outage and shows when it ends.
    const listed = await admin<{ faults: Array<{ id: number; kind: string; expiresAt: number }> }>(h.ex.url, 'GET', '/admin/faults');
    expect(listed.json.faults).toEqual([expect.objectContaining({ id: fault, kind: 'outage', mode: 'http503', expiresAt: expect.any(Number) })]);
    // Nothing was executed, and once the span is over everything is served again.
    await eventually('the outage to end', async () => (await h.client.ping().then(() => true, () => false)) || undefined, 20_000);
    expect(h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
    expect((await admin<{ faults: unknown[] }>(h.ex.url, 'GET', '/admin/faults')).json.faults).toEqual([]);
  });

  test('outage (dropConnection): connections dropped without a response, nothing executed; the WS API refuses too', async () => {
    await injectFault(h.ex.url, { kind: 'outage', ms: 2500, mode: 'dropConnection' });
    const id = cid('out');
    expect(await expectBinanceError(limit(h.client, id))).toMatchObject({ kind: 'unknown_outcome', httpStatus: undefined });
    const stream = new UserDataStream({ wsUrl: h.ex.wsUrl, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, backoffInitialMs: 100, backoffMaxMs: 300 });
    try {
      const started = stream.start();
      await sleep(300);
      expect(h.ex.ws.stats().connections).toBe(0);
      await eventually('the outage to end', async () => (await h.client.ping().then(() => true, () => false)) || undefined, 20_000);
      await started; // the stream gets in once the exchange is back
      expect(h.ex.ws.stats().subscriptions).toBe(1);
    } finally {
      await stream.close();
    }
    expect(h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
  });

  test('invalidApiKey: -2015 (HTTP 401) on signed requests for its span, public ones unaffected, then accepted', async () => {
    const other = await injectFault(h.ex.url, { kind: 'invalidApiKey', ms: 60_000, apiKey: 'someoneElsesKey' });
    await expect(h.client.account()).resolves.toMatchObject({ canTrade: true }); // another key's fault
    await admin(h.ex.url, 'DELETE', '/admin/faults', { id: other });

    const fault = await injectFault(h.ex.url, { kind: 'invalidApiKey', ms: 2000 });
    const id = cid('key');
    const e = await expectBinanceError(market(h.client, id));
    expect(e).toMatchObject({ kind: 'rejected', httpStatus: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    expect(await expectBinanceError(h.client.account())).toMatchObject({ code: -2015 });
    await expect(h.client.ping()).resolves.toBeUndefined();
    expect(h.ex.faults.hits.get(fault)).toBe(2);
    expect(h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
    await eventually('the key to be accepted again', async () => (await h.client.account().then(() => true, () => false)) || undefined, 20_000);
    await expect(market(h.client, id)).resolves.toMatchObject({ status: 'FILLED' });
  });

  test('matchingDelay: past recvWindow at the matching engine, -1021 and counted as an unfilled order; at receipt, not counted', async () => {
    const tight = await client({ recvWindow: 400 });
    // At receipt (the request itself is late): -1021, no unfilled order count.
    const countBefore = await orderCount();
    await injectFault(h.ex.url, { kind: 'latency', ms: 800, method: 'POST', path: '/api/v3/order', times: 2 });
    const atReceipt = await expectBinanceError(limit(tight, cid('me')));
    expect(atReceipt).toMatchObject({ kind: 'retry_later', code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' });
    expect(await orderCount()).toBe(countBefore);

    // Received in time, but the matching engine gets it after its window: -1021, and counted.
    // times 2: the client resyncs and resends once after a -1021; both meet the delay.
    const fault = await injectFault(h.ex.url, { kind: 'matchingDelay', ms: 800, method: 'POST', path: '/api/v3/order', times: 2 });
    const id = cid('me');
    const e = await expectBinanceError(limit(tight, id));
    expect(e).toMatchObject({ kind: 'retry_later', httpStatus: 400, code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' });
    expect(h.ex.faults.hits.get(fault)).toBe(2);
    expect(h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
    expect(await orderCount()).toBe(countBefore + 2);

    // Inside the window the delayed order is matched normally.
    await injectFault(h.ex.url, { kind: 'matchingDelay', ms: 200, method: 'POST', path: '/api/v3/order' });
    const ok = cid('me');
    await expect(limit(h.client, ok)).resolves.toMatchObject({ clientOrderId: ok, status: 'NEW' });
  });

  test('bad fault input is refused with the field named, nothing injected', async () => {
    const r = await admin<{ error: string }>(h.ex.url, 'POST', '/admin/faults', { kind: 'outage', ms: -1 });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/ms/);
    const m = await admin<{ error: string }>(h.ex.url, 'POST', '/admin/faults', { kind: 'outage', ms: 1000, mode: 'sometimes' });
    expect(m.status).toBe(400);
    expect(m.json.error).toMatch(/mode/);
    expect((await admin<{ faults: unknown[] }>(h.ex.url, 'GET', '/admin/faults')).json.faults).toEqual([]);
  });
});
