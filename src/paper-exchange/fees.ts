/**
 * What a fill costs in commission: a seam of its own (as NautilusTrader's FeeModel), so that a
 * venue with other rules (tiers, maker rebates, per-symbol rates) is one class, not an edit of
 * the matching engine. The engine is handed a FeeModelFactory (Engine's `feeModel` argument,
 * the paper exchange's `feeModel` option), builds its model once over its own market view and
 * asks it once per fill; BinanceFeeModel is the default.
 */
import { D, dec, type Dec } from '../shared/decimal';
import type { SymbolDef } from './market';
import type { Account, Side } from './model';

export interface Commission {
  amount: Dec;
  asset: string;
}

/** Whether the fill's order rested on the book (maker) or took from it (taker). */
export type Liquidity = 'MAKER' | 'TAKER';

export interface FeeFill {
  account: Account;
  symbol: SymbolDef;
  side: Side;
  liquidity: Liquidity;
  /** Price, base quantity and quote amount of the fill. */
  price: Dec;
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

/** Builds the engine's fee model over the engine's market view (the view exists only once the engine does). */
export type FeeModelFactory = (market: FeeMarket) => FeeModel;

/** Binance's pay-in-BNB discount on the standard rate (25 %). */
export const BNB_DISCOUNT = dec('0.25');

/**
 * Binance's spot rule: the account's rate (maker and taker alike, as on the default VIP 0 tier,
 * so `liquidity` is not consulted) on what the fill delivers: a BUY pays in the base asset it
 * receives, a SELL in the quote asset. With
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

export const binanceFees: FeeModelFactory = (market) => new BinanceFeeModel(market);
