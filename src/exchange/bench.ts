/**
 * Benchmark: client overhead per request and the paper exchange's order throughput.
 *
 *   npx tsx src/exchange/bench.ts [requests=10000] [orders=5000] [concurrency=16]
 *
 * Everything runs in this one process on loopback (client and paper exchange share the event
 * loop), so latencies include the server's work. "Overhead" is the client's median/p99 minus a
 * bare undici request to the same endpoint on its own keep-alive pool, measured interleaved.
 * The signed figure also contains the server's HMAC check and the larger response, so it is an
 * upper bound for the client's own signing + parsing cost.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange } from '../paper-exchange';
import { BinanceSpotClient } from './client';

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

function summarize(samples: number[]): { median: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return { median: round(pct(s, 50)), p99: round(pct(s, 99)), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

/**
 * Runs the variants interleaved (a, b, c, a, b, c, ...) so that GC pauses, JIT state and socket
 * reuse hit every variant alike; timing them one after the other biases whichever runs first.
 */
async function timeInterleaved(n: number, fns: Array<() => Promise<unknown>>): Promise<number[][]> {
  for (let i = 0; i < Math.min(500, n); i++) for (const fn of fns) await fn(); // warm-up
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < fns.length; k++) {
      const t0 = performance.now();
      await (fns[k] as () => Promise<unknown>)();
      (out[k] as number[]).push(performance.now() - t0);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 10_000);
  const orders = Number(process.argv[3] ?? 5_000);
  const concurrency = Number(process.argv[4] ?? 16);
  const ex = await startPaperExchange({
    priceStepMs: 0,
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 100_000_000 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100_000_000 },
      { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 100_000_000 },
    ],
    accounts: [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, balances: { USDT: '1000000000', BTC: '100000', BNB: '0' } }],
  });
  ex.setPrice('BTCUSDT', '50000.00');
  const client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
  const raw = new Pool(ex.url, { connections: 8, pipelining: 1 });
  try {
    await client.exchangeInfo(); // learn the (raised) limits so the budget never waits
    await client.syncTime();
    const placed = await client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '40000.00', newClientOrderId: 'bench-resting' });

    const [rawSamples, pingSamples, getSamples] = await timeInterleaved(requests, [
      async () => {
        const r = await raw.request({ method: 'GET', path: '/api/v3/ping' });
        await r.body.text();
      },
      () => client.ping(),
      () => client.getOrder({ symbol: 'BTCUSDT', orderId: placed.orderId }),
    ]);
    const rawPing = summarize(rawSamples as number[]);
    const clientPing = summarize(pingSamples as number[]);
    const clientGetOrder = summarize(getSamples as number[]);

    // Order throughput over HTTP through the client, `concurrency` in flight.
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < orders) {
          const i = next++;
          await client.newOrder({ symbol: 'BTCUSDT', side: i % 2 === 0 ? 'BUY' : 'SELL', type: 'MARKET', quantity: '0.001', newClientOrderId: `bench-${i}` });
        }
      }),
    );
    const httpSeconds = (performance.now() - t0) / 1000;

    const result = {
      node: process.version,
      requests,
      rawUndiciPingMs: rawPing,
      clientPingMs: clientPing,
      clientSignedGetOrderMs: clientGetOrder,
      clientOverheadMs: {
        unsignedMedian: Math.round((clientPing.median - rawPing.median) * 1000) / 1000,
        unsignedP99: Math.round((clientPing.p99 - rawPing.p99) * 1000) / 1000,
        signedMedian: Math.round((clientGetOrder.median - rawPing.median) * 1000) / 1000,
        signedP99: Math.round((clientGetOrder.p99 - rawPing.p99) * 1000) / 1000,
      },
      orderThroughput: { orders, concurrency, seconds: Math.round(httpSeconds * 100) / 100, ordersPerSecond: Math.round(orders / httpSeconds) },
      rateBudget: { delayedRequests: client.usage().delayedRequests },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await raw.close();
    await client.close();
    await ex.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
