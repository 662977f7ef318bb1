import { BinanceSpotClient, type BinanceClientOptions } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange, type PaperExchangeOptions } from '../../src/paper-exchange';

export interface Harness {
  ex: PaperExchange;
  client: BinanceSpotClient;
  close(): Promise<void>;
}

/** A paper exchange with the price walk off (prices move only when a test says so) and a client for it. */
/**
 * A harness for each test of the describe block it is called in (beforeEach/afterEach), BTCUSDT at
 * 50000.00 and, with `syncTime`, the client's clock synced; `ref.h` is the current one.
 */
export function harnessEach(o: { syncTime?: boolean } = {}): { h: Harness } {
  const ref = {} as { h: Harness };
  beforeEach(async () => {
    ref.h = await harness();
    ref.h.ex.setPrice('BTCUSDT', '50000.00');
    if (o.syncTime) await ref.h.client.syncTime();
  });
  afterEach(async () => {
    await ref.h.close();
  });
  return ref;
}

export async function harness(exOpts: PaperExchangeOptions = {}, clientOpts: Partial<BinanceClientOptions> = {}): Promise<Harness> {
  const ex = await startPaperExchange({ priceStepMs: 0, ...exOpts });
  const client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 3000, ...clientOpts });
  return {
    ex,
    client,
    close: async () => {
      await client.close();
      await ex.close();
    },
  };
}

let seq = 0;
export function cid(prefix = 't'): string {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}`;
}

export async function expectBinanceError(p: Promise<unknown>): Promise<import('../../src/exchange').BinanceError> {
  try {
    await p;
  } catch (e) {
    const { BinanceError } = await import('../../src/exchange');
    if (e instanceof BinanceError) return e;
    throw e;
  }
  throw new Error('expected a BinanceError, but the call succeeded');
}
