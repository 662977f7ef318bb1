/**
 * `serverShutdown` (WebSocket API connection event, CHANGELOG 2026-05-06 / 2026-06-09): the
 * paper exchange announces it, keeps serving the connection and closes it later; our user data
 * stream opens and subscribes a replacement first and only then closes the old connection, so
 * no executionReport is lost and no gap is reported. Copies received on both are dropped.
 */
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { UserDataStream, type ExecutionReport, type GapInfo } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { wsSignaturePayload } from '../../src/exchange/user-data-stream';
import { admin, injectFault } from './admin-http';
import { cid, harness, type Harness } from './helpers';

async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function newStream(wsUrl: string): UserDataStream {
  return new UserDataStream({
    wsUrl,
    apiKey: PAPER_DEFAULT_API_KEY,
    apiSecret: PAPER_DEFAULT_API_SECRET,
    heartbeatMs: 150,
    responseTimeoutMs: 500,
    backoffInitialMs: 30,
    backoffMaxMs: 200,
  });
}

describe('serverShutdown on the paper exchange', () => {
  let h: Harness;
  let stream: UserDataStream;
  const reports: ExecutionReport[] = [];
  const gaps: GapInfo[] = [];

  beforeEach(async () => {
    reports.length = 0;
    gaps.length = 0;
    h = await harness();
    h.ex.setPrice('BTCUSDT', '50000.00');
    stream = newStream(h.ex.wsUrl);
    stream.on('executionReport', (e) => reports.push(e));
    stream.on('gap', (g) => gaps.push(g));
    await stream.start();
  });
  afterEach(async () => {
    await stream.close();
    await h.close();
  });

  /** Fills `id` 0.001 at a time, as fast as the admin API answers, until `stop()`. */
  function fillContinuously(id: string): { stop: () => Promise<number> } {
    let running = true;
    let fills = 0;
    const loop = (async () => {
      // 0.001 of 1.000 at a time: stop well before the order would fill completely.
      while (running && fills < 900) {
        const r = await admin(h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.001' });
        if (r.status !== 200) throw new Error(`fill refused: ${JSON.stringify(r.json)}`);
        fills++;
        await sleep(2);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return fills;
      },
    };
  }

  test('fills during the shutdown all arrive, in order, once each, with no gap', async () => {
    const id = cid('sd');
    const placed = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '1.000', price: '49000.00', newClientOrderId: id });
    await until(() => reports.length === 1, 5000, 'NEW report');
    const handovers: number[] = [];
    let atHandover = 0;
    stream.on('handover', (x) => {
      handovers.push(x.subscriptionId);
      atHandover = reports.filter((r) => r.x === 'TRADE').length;
    });
    const oldConnections = stream.state().connections;
    let subscribedAgain = 0;
    stream.on('subscribed', () => subscribedAgain++);

    const filler = fillContinuously(id);
    await until(() => reports.length >= 20, 5000, 'fills flowing before the shutdown');
    // Through the admin API, as an operator or a chaos test would.
    const told = await admin<{ connections: number }>(h.ex.url, 'POST', '/admin/ws/server-shutdown', { closeAfterMs: 800 });
    expect(told).toEqual({ status: 200, json: { connections: 1 } });
    await until(() => handovers.length === 1, 5000, 'handover');
    // Keep filling across the old connection's close and a while after.
    await sleep(1200);
    const fills = await filler.stop();
    expect(fills).toBeGreaterThan(50);

    const trades = h.ex.trades('BTCUSDT').filter((t) => t.orderId === placed.orderId);
    expect(trades).toHaveLength(fills);
    await until(() => reports.filter((r) => r.x === 'TRADE').length >= trades.length, 5000, 'every TRADE report');
    const tradeReports = reports.filter((r) => r.x === 'TRADE');
    // Every trade the exchange made was reported, exactly once, in order.
    expect(tradeReports.map((r) => r.t)).toEqual(trades.map((t) => t.id));
    // Execution ids: no repeats, and (one order, one account) no holes from NEW to the last fill.
    const ids = reports.map((r) => r.I);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[0]! + i);
    expect(reports.at(-1)!.z).toBe((fills / 1000).toFixed(8));
    // Fills were flowing on both sides of the handover.
    expect(atHandover).toBeGreaterThanOrEqual(15);
    expect(tradeReports.length).toBeGreaterThan(atHandover + 20);

    expect(gaps).toEqual([]);
    // No new 'subscribed' either: for the order router that would mean "coverage starts again".
    expect(subscribedAgain).toBe(0);
    expect(stream.stats).toMatchObject({ serverShutdowns: 1, handovers: 1, gaps: 0 });
    expect(stream.state()).toMatchObject({ connected: true, connections: oldConnections + 1 });
    // The old connection is gone (the client closed it after subscribing the new one).
    await until(() => h.ex.ws.stats().connections === 1, 3000, 'old connection closed');
    expect(h.ex.ws.stats().subscriptions).toBe(1);
  });

  test('the exchange keeps serving a shutting-down connection until closeAfterMs, then closes it with 1001', async () => {
    // A bare client that does not react to serverShutdown: what the server itself does.
    const ws = new WebSocket(h.ex.wsUrl);
    const frames: Array<{ subscriptionId?: number; event?: { e: string; E?: number; x?: string } ; id?: string; status?: number }> = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as (typeof frames)[number]));
    await new Promise((r) => ws.once('open', r));
    const params = { apiKey: PAPER_DEFAULT_API_KEY, timestamp: Date.now() };
    const signature = createHmac('sha256', PAPER_DEFAULT_API_SECRET).update(wsSignaturePayload(params)).digest('hex');
    ws.send(JSON.stringify({ id: 'sub', method: 'userDataStream.subscribe.signature', params: { ...params, signature } }));
    await until(() => frames.some((f) => f.id === 'sub' && f.status === 200), 3000, 'subscribed');

    const closed = new Promise<{ code: number; at: number }>((r) => ws.once('close', (code) => r({ code, at: Date.now() })));
    const at = Date.now();
    expect(h.ex.ws.serverShutdown({ closeAfterMs: 400 })).toEqual({ connections: 2 }); // ours and the stream's
    await until(() => frames.some((f) => f.event?.e === 'serverShutdown'), 2000, 'serverShutdown frame');
    const notice = frames.find((f) => f.event?.e === 'serverShutdown')!;
    expect(notice.subscriptionId).toBeUndefined();
    expect(Object.keys(notice.event!).sort()).toEqual(['E', 'e']);
    // Still delivering and answering.
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '49000.00', newClientOrderId: cid() });
    await until(() => frames.some((f) => f.event?.e === 'executionReport'), 2000, 'event after the notice');
    ws.send(JSON.stringify({ id: 'p', method: 'ping' }));
    await until(() => frames.some((f) => f.id === 'p' && f.status === 200), 2000, 'ping answered after the notice');
    // A second announcement does not re-announce connections already shutting down (the stream's
    // replacement is new, so it is the only one told).
    await until(() => stream.stats.handovers === 1, 3000, 'stream handover');
    expect(h.ex.ws.serverShutdown({ closeAfterMs: 10_000 }).connections).toBe(1);
    await until(() => stream.stats.handovers === 2, 3000, 'second stream handover');
    const c = await closed;
    expect(c.code).toBe(1001);
    expect(c.at - at).toBeGreaterThanOrEqual(380);
    expect(gaps).toEqual([]);
  });

  test('if the old connection closes before the replacement is subscribed, that is a gap', async () => {
    // New connections are refused for a while, so the replacement cannot be made in time.
    await injectFault(h.ex.url, { kind: 'outage', ms: 600, mode: 'http503' });
    h.ex.ws.serverShutdown({ closeAfterMs: 100 });
    await until(() => gaps.length === 1, 5000, 'gap');
    expect(gaps[0]!.reason).toBe('reconnected');
    expect(stream.state()).toMatchObject({ connected: true });
    expect(stream.state().subscriptionId).not.toBeUndefined();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    await until(() => reports.some((r) => r.o === 'MARKET' && r.X === 'FILLED'), 5000, 'events on the replacement');
  });

  test('the admin route validates its body', async () => {
    expect((await admin(h.ex.url, 'POST', '/admin/ws/server-shutdown', { closeAfterMs: -1 })).status).toBe(400);
    expect((await admin(h.ex.url, 'POST', '/admin/ws/server-shutdown', { nope: 1 })).status).toBe(400);
    expect(await admin(h.ex.url, 'POST', '/admin/ws/server-shutdown')).toEqual({ status: 200, json: { connections: 1 } });
    await until(() => stream.stats.handovers === 1, 3000, 'handover with the default delay');
    expect(gaps).toEqual([]);
  });
});

/**
 * A scripted server, for what the paper exchange cannot make happen on cue: the same event on
 * both connections during the overlap (Binance fans one event out to every subscription).
 */
describe('serverShutdown overlap against a scripted server', () => {
  let wss: WebSocketServer;
  let url: string;
  const conns: WebSocket[] = [];
  /** When set, subscribe requests are not answered until the test answers them. */
  let hold: boolean;
  const held: Array<{ ws: WebSocket; id: string; subscriptionId: number }> = [];

  beforeEach(async () => {
    conns.length = 0;
    held.length = 0;
    hold = false;
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws-api/v3`;
    let nextSub = 10;
    wss.on('connection', (ws) => {
      conns.push(ws);
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as { id: string; method: string };
        if (m.method === 'userDataStream.subscribe.signature') {
          const subscriptionId = nextSub++;
          if (hold) held.push({ ws, id: m.id, subscriptionId });
          else ws.send(JSON.stringify({ id: m.id, status: 200, result: { subscriptionId } }));
        }
        else if (m.method === 'session.subscriptions') ws.send(JSON.stringify({ id: m.id, status: 200, result: [{ subscriptionId: nextSub - 1 }] }));
        else ws.send(JSON.stringify({ id: m.id, status: 200, result: {} }));
      });
    });
  });
  afterEach(async () => {
    for (const c of conns) c.terminate();
    await new Promise((r) => wss.close(r));
  });

  const report = (I: number): Record<string, unknown> => ({
    e: 'executionReport', E: 1_700_000_000_000 + I, s: 'BTCUSDT', c: 'x', S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1.00000000', p: '1.00000000',
    P: '0.00000000', F: '0.00000000', g: -1, C: '', x: 'TRADE', X: 'PARTIALLY_FILLED', r: 'NONE', i: 1, l: '0.00100000', z: '0.00100000',
    L: '1.00000000', n: '0', N: 'BTC', T: 1_700_000_000_000 + I, t: I, I, w: true, m: true, M: true, O: 1_700_000_000_000, Z: '0.00100000',
    Y: '0.00100000', Q: '0.00000000',
  });

  test('events on both connections during the overlap are delivered once; the old close is graceful', async () => {
    const stream = newStream(url);
    const got: number[] = [];
    const gaps: GapInfo[] = [];
    stream.on('executionReport', (e) => got.push(e.I));
    stream.on('gap', (g) => gaps.push(g));
    await stream.start();
    const a = conns[0]!;
    const send = (ws: WebSocket, sub: number, I: number): void => ws.send(JSON.stringify({ subscriptionId: sub, event: report(I) }));
    send(a, 10, 1);
    hold = true;
    a.send(JSON.stringify({ event: { e: 'serverShutdown', E: Date.now() } }));
    await until(() => held.length === 1, 3000, 'replacement asking to subscribe');
    // The old connection still delivers while the replacement is not subscribed.
    send(a, 10, 2);
    await until(() => got.includes(2), 2000, 'event 2 on the old connection');
    const oldClosed = new Promise<number>((r) => a.once('close', (code) => r(code)));
    // In one go, as the exchange would: the subscription becomes active, and from then on the
    // events 3..5 go to both subscriptions; 6 comes after the old connection closed.
    const { ws: b, id, subscriptionId } = held[0]!;
    b.send(JSON.stringify({ id, status: 200, result: { subscriptionId } }));
    for (const I of [3, 4, 5]) send(b, subscriptionId, I);
    for (const I of [3, 4, 5]) send(a, 10, I);
    expect(await oldClosed).toBe(1000); // closed by the client, gracefully, after the handover
    expect(stream.stats.handovers).toBe(1);
    send(b, subscriptionId, 6);
    await until(() => got.includes(6), 3000, 'event 6');
    await sleep(50);
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(stream.stats.duplicates).toBe(3);
    expect(gaps).toEqual([]);
    await stream.close();
  });

  test('outside a handover nothing is de-duplicated', async () => {
    const stream = newStream(url);
    const got: number[] = [];
    stream.on('executionReport', (e) => got.push(e.I));
    await stream.start();
    const a = conns[0]!;
    a.send(JSON.stringify({ subscriptionId: 10, event: report(7) }));
    a.send(JSON.stringify({ subscriptionId: 10, event: report(7) }));
    await until(() => got.length === 2, 2000, 'both copies');
    expect(stream.stats.duplicates).toBe(0);
    await stream.close();
  });
});

describe('-2042 MAXIMUM_SUBSCRIPTION_IDS', () => {
  test('a connection that may not subscribe again is replaced, and the stream resumes with a gap', async () => {
    const h = await harness();
    const stream = newStream(h.ex.wsUrl);
    const gaps: GapInfo[] = [];
    const warnings: string[] = [];
    const reports: ExecutionReport[] = [];
    stream.on('gap', (g) => gaps.push(g));
    stream.on('warning', (w) => warnings.push(w.msg));
    stream.on('executionReport', (e) => reports.push(e));
    try {
      h.ex.setPrice('BTCUSDT', '50000.00');
      h.ex.ws.limitSubscriptionIds(1); // one subscription id per connection
      await stream.start();
      const before = stream.state().connections;
      h.ex.ws.expireSubscriptions();
      await until(() => gaps.length === 1, 5000, 'gap');
      expect(warnings.some((w) => /resubscribe refused \(-2042 Maximum subscription ID reached for this connection\.\); reconnecting/.test(w))).toBe(true);
      expect(gaps[0]!.reason).toBe('reconnected');
      expect(stream.state().connections).toBe(before + 1);
      await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
      await until(() => reports.some((r) => r.X === 'FILLED'), 5000, 'events on the new connection');
    } finally {
      await stream.close();
      await h.close();
    }
  });
});
