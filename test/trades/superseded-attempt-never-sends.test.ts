/**
 * Issue 11, item 6: an attempt Temporal has given up on must never send. The submission
 * activity runs here in a real Temporal activity context (MockActivityEnvironment: its
 * cancellation and its info are what the worker would give it) against the paper exchange over
 * HTTP, with the Postgres send log, as two workers would run two attempts of one submission:
 *
 * - attempt 1 (worker A) is parked: every send slot of its exchange client is held by a slow
 *   request, as under load;
 * - Temporal gives up on it (its heartbeat answer says it timed out, or its start-to-close
 *   passes without a word reaching it) and attempt 2 (worker B) settles and sends;
 * - then worker A's slot frees. A zombie attempt that sends now places a second order with the
 *   same client order id (accepted, the first being filled): at most one order is allowed.
 *
 * Run through Temporal, the same race needs a park of more than start-to-close (120 s); here
 * the attempt's timeout is whatever its info says.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createExchangeActivities } from '../../activities/exchange-activities';
import { BinanceSpotClient } from '../../src/exchange';
import { createLogger } from '../../src/logging';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import type { OrderIntent, PlaceOrderResult } from '../../src/shared/trade';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const RECV_WINDOW_MS = 2000;
const clients: BinanceSpotClient[] = [];

// Only the exchange and the database (migrated, with the send log): the attempts run here.
const h = useTradeHarness(
  { name: 'zombieattempt', worker: false, recvWindowMs: RECV_WINDOW_MS },
  { beforeStop: () => Promise.all(clients.map((c) => c.close())) },
);

/** One worker process: its own exchange client (with `connections` send slots) and activities. */
async function worker(name: string, connections: number) {
  const exchange = new BinanceSpotClient({
    baseUrl: h.paper.url,
    apiKey: PAPER_DEFAULT_API_KEY,
    apiSecret: PAPER_DEFAULT_API_SECRET,
    recvWindow: RECV_WINDOW_MS,
    connections,
    // Long enough for the slow request that holds the slot to be answered, not timed out.
    timeoutMs: 30_000,
  });
  clients.push(exchange);
  await exchange.syncTime();
  const logger = createLogger(`zombie-${name}`, process.env.TEST_LOG_LEVEL ?? 'warn');
  const acts = createExchangeActivities({ exchange, logger, recvWindowMs: RECV_WINDOW_MS, pool: h.svc.pool });
  return { exchange, acts };
}

/**
 * Holds worker A's only send slot for `ms` with a slow request; resolves once it is held, with
 * the request's answer (wrapped: an async function returning a promise would wait for it).
 */
async function holdTheSlot(exchange: BinanceSpotClient, ms: number): Promise<{ released: Promise<unknown> }> {
  const fault = h.paper.faults.inject({ kind: 'latency', ms, method: 'GET', path: '/api/v3/ticker/price' });
  const released = exchange.tickerPrice(BTC);
  await eventually('the slot to be held', () => (h.paper.faults.hits.get(fault) ?? 0) >= 1, 10_000);
  return { released };
}

function attemptInfo(attempt: number, scheduledAt: number, startToCloseTimeoutMs = 120_000) {
  return {
    attempt,
    activityType: 'placeOrder',
    activityId: '1',
    heartbeatTimeoutMs: 10_000,
    startToCloseTimeoutMs,
    scheduleToCloseTimeoutMs: 0,
    scheduledTimestampMs: scheduledAt,
    currentAttemptScheduledTimestampMs: scheduledAt,
  };
}

function marketIntent(cid: string): OrderIntent {
  return { clientOrderId: cid, purpose: 'entry', symbol: BTC, side: 'BUY', type: 'MARKET', quantity: '0.001' };
}

function ordersFor(cid: string) {
  return h.paper.orders(BTC).filter((o) => o.clientOrderId === cid);
}

type Worker = Awaited<ReturnType<typeof worker>>;
type Attempt = Promise<{ sent: true; v: unknown } | { sent: false; e: unknown }>;

/** Worker A's attempt 1 at placing `cid`: settles with whether it sent (it answered) or not (it threw). */
function attempt1Of(env: MockActivityEnvironment, a: Worker, cid: string): Attempt {
  return env.run(a.acts.placeOrder, marketIntent(cid)).then(
    (v) => ({ sent: true as const, v }),
    (e: unknown) => ({ sent: false as const, e }),
  );
}

/**
 * Attempt 2 (worker B) places the order and it fills; then worker A's slot frees and attempt 1
 * runs its course: the exchange has that one filled order, and attempt 1 did not send.
 */
async function attempt2SendsAttempt1Never(b: Worker, cid: string, startToCloseTimeoutMs: number | undefined, released: Promise<unknown>, attempt1: Attempt): Promise<void> {
  const env2 = new MockActivityEnvironment(attemptInfo(2, Date.now(), startToCloseTimeoutMs));
  const placed = (await env2.run(b.acts.placeOrder, marketIntent(cid))) as PlaceOrderResult;
  expect(placed.order.status).toBe('FILLED');

  await released;
  const zombie = await attempt1;
  // Give a zombie's request the time to land.
  await new Promise((r) => setTimeout(r, 1000));
  expect(ordersFor(cid).map((o) => o.status)).toEqual(['FILLED']);
  expect(zombie.sent).toBe(false);
}

test('attempt 1 cancelled (timed out) while parked for a send slot, attempt 2 sends: attempt 1 never sends', async () => {
  const a = await worker('a1', 1);
  const b = await worker('b1', 8);
  const cid = `zombie-cancel-${Date.now()}`;
  const { released } = await holdTheSlot(a.exchange, 8000);

  const env1 = new MockActivityEnvironment(attemptInfo(1, Date.now()));
  const attempt1 = attempt1Of(env1, a, cid);
  await new Promise((r) => setTimeout(r, 300));
  // What the worker does when the server answers a heartbeat with "this attempt timed out".
  env1.cancel('TIMED_OUT');

  await attempt2SendsAttempt1Never(b, cid, undefined, released, attempt1);
}, 90_000);

test('attempt 1 parked past its start-to-close (no word reached it), attempt 2 sends: attempt 1 never sends', async () => {
  const a = await worker('a2', 1);
  const b = await worker('b2', 8);
  const cid = `zombie-timeout-${Date.now()}`;
  const t0 = Date.now();
  // Attempt 1 started 18 s ago with a 30 s start-to-close (the old workflow's; the rule is the
  // same at 120 s): the server gives up on it at t0 + 12 s. Its slot is held until t0 + 20 s.
  const { released } = await holdTheSlot(a.exchange, 20_000);
  const attempt1 = attempt1Of(new MockActivityEnvironment(attemptInfo(1, t0 - 18_000, 30_000)), a, cid);

  // Attempt 2 is scheduled once the server timed attempt 1 out (plus the retry backoff).
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + 12_500 - Date.now())));
  await attempt2SendsAttempt1Never(b, cid, 30_000, released, attempt1);
}, 90_000);
