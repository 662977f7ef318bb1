import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { DEFAULT_SYMBOLS, startPaperExchange } from '../../src/paper-exchange';
import { PricePath } from '../../src/paper-exchange/market';
import { cid, expectBinanceError, harness } from './helpers';

async function admin(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await request(`${url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: r.statusCode, json: await r.body.json() };
}

describe('paper exchange', () => {
  test('faults switch at run time over the admin endpoint; state is inspectable', async () => {
    const h = await harness();
    try {
      expect(await admin(h.ex.url, 'POST', '/admin/price', { symbol: 'BTCUSDT', price: '42000.00' })).toMatchObject({ status: 200 });
      const injected = await admin(h.ex.url, 'POST', '/admin/faults', { kind: 'http5xx', status: 503, path: '/api/v3/order', method: 'POST' });
      expect(injected).toMatchObject({ status: 200, json: { id: expect.any(Number) } });
      expect((await admin(h.ex.url, 'GET', '/admin/faults')).json).toMatchObject({ faults: [{ kind: 'http5xx', status: 503, afterPlaced: true }] });
      const id = cid();
      const e = await expectBinanceError(h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id }));
      expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: 503 });
      const state = (await admin(h.ex.url, 'GET', '/admin/state')).json as { prices: Record<string, string>; orderCount: number; faults: unknown[] };
      expect(state.prices.BTCUSDT).toBe('42000.00000000');
      expect(state.orderCount).toBe(1);
      expect(state.faults).toEqual([]); // consumed
      expect((await admin(h.ex.url, 'POST', '/admin/faults', { kind: 'nonsense' })).status).toBe(400);
      await admin(h.ex.url, 'POST', '/admin/faults', { kind: 'latency', ms: 10, times: 0 });
      await admin(h.ex.url, 'DELETE', '/admin/faults', {});
      expect((await admin(h.ex.url, 'GET', '/admin/faults')).json).toMatchObject({ faults: [] });
    } finally {
      await h.close();
    }
  });

  test('the seeded price walk is reproducible, and a different seed gives a different path', () => {
    const def = DEFAULT_SYMBOLS.find((d) => d.symbol === 'BTCUSDT')!;
    const walk = (seed: number) => {
      const p = new PricePath(def, seed);
      return Array.from({ length: 50 }, () => p.step().toFixed());
    };
    const a = walk(7);
    expect(walk(7)).toEqual(a);
    expect(walk(8)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(10); // it actually moves
    for (const price of a) expect(price).toMatch(/^\d+(\.\d{1,2})?$/); // on the 0.01 tick
  });

  test('replays kline closes from a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'klines-'));
    const file = join(dir, 'btc.json');
    writeFileSync(file, JSON.stringify([
      [0, '100.00', '101.00', '99.00', '100.50', '1'],
      [60000, '100.50', '102.00', '100.00', '101.25', '1'],
    ]));
    const ex = await startPaperExchange({ priceStepMs: 0, klineFiles: { BTCUSDT: file } });
    try {
      expect(ex.price('BTCUSDT')).toBe('100.50000000');
    } finally {
      await ex.close();
    }
  });

  test('Binance parameter errors verbatim', async () => {
    const h = await harness();
    try {
      const r = await request(`${h.ex.url}/api/v3/ticker/price?symbol=NOPE`);
      expect(r.statusCode).toBe(400);
      expect(await r.body.json()).toEqual({ code: -1121, msg: 'Invalid symbol.' });
      const unsigned = await request(`${h.ex.url}/api/v3/account`);
      expect(await unsigned.body.json()).toEqual({ code: -2014, msg: 'API-key format invalid.' });
    } finally {
      await h.close();
    }
  });
});
