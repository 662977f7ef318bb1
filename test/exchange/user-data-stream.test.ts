import { UserDataStream, type ExecutionReport, type GapInfo, type ListStatusEvent } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { cid, harness, type Harness } from './helpers';

/** Resolves when `pred` holds, polling; fails the test after `ms`. */
async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('user data stream over the WebSocket API', () => {
  let h: Harness;
  let stream: UserDataStream;
  const reports: ExecutionReport[] = [];
  const lists: ListStatusEvent[] = [];
  const gaps: GapInfo[] = [];

  beforeEach(async () => {
    reports.length = 0;
    lists.length = 0;
    gaps.length = 0;
    h = await harness();
    h.ex.setPrice('BTCUSDT', '50000.00');
    stream = new UserDataStream({
      wsUrl: h.ex.wsUrl,
      apiKey: PAPER_DEFAULT_API_KEY,
      apiSecret: PAPER_DEFAULT_API_SECRET,
      heartbeatMs: 150,
      responseTimeoutMs: 300,
      backoffInitialMs: 50,
      backoffMaxMs: 400,
    });
    stream.on('executionReport', (e) => reports.push(e));
    stream.on('listStatus', (e) => lists.push(e));
    stream.on('gap', (g) => gaps.push(g));
    await stream.start();
  });
  afterEach(async () => {
    await stream.close();
    await h.close();
  });

  test('executionReport for NEW, partial and full TRADE, CANCELED, with Binance fields', async () => {
    const id = cid();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.8', price: '49000.00', newClientOrderId: id });
    h.ex.setPrice('BTCUSDT', '49000.00');
    h.ex.setPrice('BTCUSDT', '48000.00');
    await until(() => reports.length >= 3, 5000, '3 reports');
    expect(reports.map((r) => [r.x, r.X, r.l, r.z])).toEqual([
      ['NEW', 'NEW', '0.00000000', '0.00000000'],
      ['TRADE', 'PARTIALLY_FILLED', '0.50000000', '0.50000000'],
      ['TRADE', 'FILLED', '0.30000000', '0.80000000'],
    ]);
    expect(reports[1]).toMatchObject({ e: 'executionReport', s: 'BTCUSDT', c: id, S: 'BUY', o: 'LIMIT', L: '49000.00000000', n: '0.00050000', N: 'BTC', m: true, w: true });
    expect(reports[2]!.w).toBe(false);

    const other = cid();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '49500.00', newClientOrderId: other });
    const cancel = await h.client.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: other });
    await until(() => reports.some((r) => r.x === 'CANCELED'), 5000, 'CANCELED report');
    const c = reports.find((r) => r.x === 'CANCELED')!;
    expect(c).toMatchObject({ X: 'CANCELED', C: other, c: cancel.clientOrderId });
  });

  test('OCO emits listStatus EXEC_STARTED then ALL_DONE when a leg fills', async () => {
    const list = cid('oco');
    await h.client.newOco({
      symbol: 'BTCUSDT', side: 'SELL', quantity: '0.1', listClientOrderId: list,
      aboveType: 'LIMIT_MAKER', aboveClientOrderId: `${list}-tp`, abovePrice: '51000.00',
      belowType: 'STOP_LOSS', belowClientOrderId: `${list}-sl`, belowStopPrice: '49000.00',
    });
    h.ex.setPrice('BTCUSDT', '51500.00');
    await until(() => lists.length >= 2, 5000, 'two listStatus events');
    expect(lists.map((l) => [l.l, l.L, l.C])).toEqual([
      ['EXEC_STARTED', 'EXECUTING', list],
      ['ALL_DONE', 'ALL_DONE', list],
    ]);
    await until(() => reports.some((r) => r.c === `${list}-sl` && r.X === 'EXPIRED'), 5000, 'expired stop leg');
    expect(reports.find((r) => r.c === `${list}-sl` && r.X === 'EXPIRED')!.eR).toBe('OCO_TRIGGER');
  });

  test('a dropped connection reconnects with backoff, emits gap, and the caller recovers the missed fill by REST', async () => {
    const id = cid();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '49000.00', newClientOrderId: id });
    await until(() => reports.length === 1, 5000, 'NEW report');
    h.ex.ws.dropConnections();
    h.ex.setPrice('BTCUSDT', '48000.00'); // fills while the stream is down: this event is lost
    await until(() => gaps.length === 1, 5000, 'gap');
    expect(gaps[0]!.reason).toBe('reconnected');
    expect(reports.some((r) => r.x === 'TRADE')).toBe(false);
    const recovered = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    expect(recovered.status).toBe('FILLED');
    // and the new subscription delivers later events
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    await until(() => reports.some((r) => r.o === 'MARKET' && r.X === 'FILLED'), 5000, 'post-reconnect event');
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  test('a silently expired subscription is detected by the heartbeat and re-made', async () => {
    h.ex.ws.expireSubscriptions();
    await until(() => gaps.length === 1, 5000, 'gap after silent expiry');
    expect(gaps[0]!.reason).toBe('subscription_lost');
    expect(h.ex.ws.stats().subscriptions).toBe(1);
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    await until(() => reports.length >= 2, 5000, 'events after resubscribe');
  });

  test('a half-open connection (no pongs, no answers) is torn down and replaced', async () => {
    const before = stream.state().connections;
    h.ex.ws.freeze(true);
    await until(() => stream.stats.reconnects >= 1, 5000, 'reconnect attempt');
    h.ex.ws.freeze(false);
    await until(() => gaps.length >= 1 && stream.state().connected && stream.state().subscriptionId !== undefined, 8000, 'resubscribed');
    expect(stream.state().connections).toBeGreaterThan(before);
    expect(gaps[0]!.reason).toBe('reconnected');
  });
});
