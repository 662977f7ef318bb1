/**
 * UTF-8 symbols (CHANGELOG 2025-12-02: `symbol` takes Unicode; 2025-12-17: REST payloads are
 * percent-encoded before they are signed). A paper exchange listing a Chinese-character symbol,
 * as Spot Testnet does, and a signed order for it through our client and through
 * @binance/spot; the symbol check still refuses what no exchange lists.
 */
import { Spot, SpotRestAPI } from '@binance/spot';
import { UserDataStream, type ExecutionReport } from '../../src/exchange';
import { encodeParams, hmacSignature } from '../../src/exchange/signing';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { DEFAULT_SYMBOLS, type SymbolDef } from '../../src/paper-exchange/market';
import { RiskDecisionSchema } from '../../src/shared/decision';
import { isExchangeSymbol } from '../../src/shared/symbol';
import { cid, expectBinanceError, harness, type Harness } from './helpers';

const BASE = '这是测试币';
const SYMBOL = `${BASE}USDT`;
const btc = DEFAULT_SYMBOLS.find((s) => s.symbol === 'BTCUSDT')!;
const UTF8: SymbolDef = { ...btc, symbol: SYMBOL, baseAsset: BASE, quoteAsset: 'USDT', initialPrice: '10.00' };

async function until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a UTF-8 symbol end to end', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness({
      symbols: [...DEFAULT_SYMBOLS, UTF8],
      accounts: [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, balances: { USDT: '100000', BTC: '1', [BASE]: '100' } }],
    });
    h.ex.setPrice(SYMBOL, '10.00');
  });
  afterEach(async () => {
    await h.close();
  });

  test('exchangeInfo lists it; our client places, reads and cancels a signed order for it; the stream reports it', async () => {
    const info = await h.client.exchangeInfo([SYMBOL]);
    expect(info.symbols.map((s) => [s.symbol, s.baseAsset])).toEqual([[SYMBOL, BASE]]);
    expect(isExchangeSymbol(info.symbols[0]!.symbol)).toBe(true);

    const stream = new UserDataStream({ wsUrl: h.ex.wsUrl, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    const reports: ExecutionReport[] = [];
    stream.on('executionReport', (e) => reports.push(e));
    await stream.start();
    try {
      const id = cid('u8');
      const placed = await h.client.newOrder({ symbol: SYMBOL, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '1.00000', price: '9.00', newClientOrderId: id });
      expect(placed).toMatchObject({ symbol: SYMBOL, clientOrderId: id, status: 'NEW' });
      expect(await h.client.getOrder({ symbol: SYMBOL, origClientOrderId: id })).toMatchObject({ symbol: SYMBOL, status: 'NEW' });
      expect(await h.client.openOrders(SYMBOL)).toHaveLength(1);
      const market = await h.client.newOrder({ symbol: SYMBOL, side: 'SELL', type: 'MARKET', quantity: '2.00000', newClientOrderId: cid('u8') });
      expect(market).toMatchObject({ symbol: SYMBOL, status: 'FILLED' });
      expect(market.fills.length).toBeGreaterThan(0);
      await h.client.cancelOrder({ symbol: SYMBOL, origClientOrderId: id });
      expect(h.ex.findOrder(SYMBOL, id)).toMatchObject({ status: 'CANCELED' });
      await until(() => reports.some((r) => r.x === 'CANCELED'), 5000, 'CANCELED report');
      expect(new Set(reports.map((r) => r.s))).toEqual(new Set([SYMBOL]));
      expect(h.ex.balances()[BASE]).toEqual({ free: '98.00000000', locked: '0.00000000' });
      // The symbol travelled percent-encoded (UTF-8 bytes) and was signed that way.
      expect(encodeParams({ symbol: SYMBOL })).toBe(`symbol=${encodeURIComponent(SYMBOL)}`);
      expect(encodeParams({ symbol: SYMBOL })).toMatch(/^symbol=(%[0-9A-F]{2}){15}USDT$/);
    } finally {
      await stream.close();
    }
  });

  test('an order for it from @binance/spot (the official connector) is accepted and filled', async () => {
    const spot = new Spot({ configurationRestAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, basePath: h.ex.url, retries: 0, timeout: 5000 } });
    const id = cid('u8s');
    const res = await spot.restAPI.newOrder({
      symbol: SYMBOL,
      side: SpotRestAPI.NewOrderSideEnum.BUY,
      type: SpotRestAPI.NewOrderTypeEnum.MARKET,
      quantity: 1,
      newClientOrderId: id,
      newOrderRespType: SpotRestAPI.NewOrderNewOrderRespTypeEnum.FULL,
    });
    expect(await res.data()).toMatchObject({ symbol: SYMBOL, clientOrderId: id, status: 'FILLED' });
    expect(h.ex.findOrder(SYMBOL, id)).toMatchObject({ status: 'FILLED', executedQty: '1.00000000' });
    const q = await (await spot.restAPI.getOrder({ symbol: SYMBOL, origClientOrderId: id })).data();
    expect(q).toMatchObject({ symbol: SYMBOL, status: 'FILLED' });
  });

  test('a symbol the exchange does not list is -1121 from the exchange, not refused locally', async () => {
    const e = await expectBinanceError(h.client.newOrder({ symbol: '不存在USDT', side: 'BUY', type: 'MARKET', quantity: '1', newClientOrderId: cid() }));
    expect(e).toMatchObject({ kind: 'rejected', httpStatus: 400, code: -1121, msg: 'Invalid symbol.' });
  });

  test('malformed symbols are refused before anything is sent', async () => {
    for (const symbol of ['', ' ', 'BTC USDT', 'btcusdt', 'BTCUSDT\n', 'BTC\u0000USDT', `${BASE}\u200bUSDT`, `\u202e${SYMBOL}`, 'BTC🚀', '这是测试币　USDT', 'X'.repeat(21)]) {
      const e = await expectBinanceError(h.client.newOrder({ symbol, side: 'BUY', type: 'MARKET', quantity: '1', newClientOrderId: cid() }));
      expect(e).toMatchObject({ kind: 'rejected', httpStatus: undefined });
      expect(e.msg).toMatch(/^invalid request, not sent: symbol:/);
    }
    expect(h.ex.requestCounts()['POST /api/v3/order']).toBeUndefined();
  });
});

describe('the symbol check', () => {
  test.each(['BTCUSDT', 'ETH-BTC', 'A_B.C', '这是测试币456', '１２３４５６', 'ÄÖÜUSDT', 'नमस्ते', 'X'.repeat(20), '币'.repeat(20)])('accepts %s', (s) => {
    expect(isExchangeSymbol(s)).toBe(true);
    expect(RiskDecisionSchema.shape.symbol.safeParse(s).success).toBe(true);
  });
  test.each(['', ' ', '\t', 'btcusdt', 'BTC/USDT', 'BTC USDT', 'BTC\u00a0USDT', 'BTC\u0007', 'BTC\u200d', '\u202eBTC', '€USDT', 'BTC🚀', '币'.repeat(21)])('refuses %j', (s) => {
    expect(isExchangeSymbol(s)).toBe(false);
    expect(RiskDecisionSchema.shape.symbol.safeParse(s).success).toBe(false);
  });

  test("Binance's documented non-ASCII example signs byte for byte (rest-api.md, HMAC)", () => {
    const payload = encodeParams({ symbol: '１２３４５６', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '1', price: '0.1', recvWindow: 5000, timestamp: 1499827319559 });
    expect(payload).toBe('symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559');
    expect(hmacSignature(payload, 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j')).toBe('e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3');
  });
});
