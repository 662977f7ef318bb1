/**
 * What a fill costs in commission: a seam of its own (as NautilusTrader's FeeModel), so that a
 * venue with other rules (tiers, maker rebates, per-symbol rates) is one class, not an edit of
 * the matching engine.
 */
import { D, dec, type Dec } from '../shared/decimal';
import type { SymbolDef } from './market';
import type { Account, Side } from './model';

export interface Commission {
  amount: Dec;
  asset: string;
}

export interface FeeFill {
  account: Account;
  symbol: SymbolDef;
  side: Side;
  /** Base quantity and quote amount of the fill. */
  qty: Dec;
  quote: Dec;
}

export interface FeeModel {
  commission(fill: FeeFill): Commission;
}

/** What the fee model may ask the exchange: a symbol's last price, an account's free balance. */
export interface FeeMarket {
  lastPrice(symbol: string): Dec | undefined;
  free(account: Account, asset: string): Dec;
}

/** Binance's pay-in-BNB discount on the standard rate (25 %). */
export const BNB_DISCOUNT = dec('0.25');

/**
 * Binance's spot rule: the account's rate (maker and taker alike here) on what the fill
 * delivers: a BUY pays in the base asset it receives, a SELL in the quote asset. With
 * payFeesInBnb, the quote value at a 25 % discount is paid in BNB when the account holds enough
 * and a BNB market prices the quote asset; else as without. Rounded up to 8 places.
 */
export class BinanceFeeModel implements FeeModel {
  constructor(private readonly market: FeeMarket) {}

  commission({ account, symbol, side, qty, quote }: FeeFill): Commission {
    const rate = account.commission;
    if (account.config.payFeesInBnb === true) {
      const bnbPerQuote = this.bnbPer(symbol.quoteAsset);
      if (bnbPerQuote) {
        const amount = quote.mul(rate).mul(dec(1).minus(BNB_DISCOUNT)).mul(bnbPerQuote).toDecimalPlaces(8, D.ROUND_UP);
        if (this.market.free(account, 'BNB').gte(amount)) return { amount, asset: 'BNB' };
      }
    }
    return side === 'BUY'
      ? { amount: qty.mul(rate).toDecimalPlaces(8, D.ROUND_UP), asset: symbol.baseAsset }
      : { amount: quote.mul(rate).toDecimalPlaces(8, D.ROUND_UP), asset: symbol.quoteAsset };
  }

  /** How many BNB one unit of `asset` is worth, if a market says so. */
  private bnbPer(asset: string): Dec | undefined {
    if (asset === 'BNB') return dec(1);
    const direct = this.market.lastPrice(`BNB${asset}`);
    if (direct) return dec(1).div(direct);
    const inverse = this.market.lastPrice(`${asset}BNB`);
    if (inverse) return inverse;
    return undefined;
  }
}
