/**
 * Validating an order against the symbol's exchange rules before anything is sent: quantity down
 * to the lot step, price to the tick, the notional checked at the order's price or the mark.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BinanceError } from '../src/exchange/errors';
import { prepareOrder as applyFilters, symbolRules } from '../src/exchange/filters';
import type { OrderIntent } from '../src/shared/trade';
import type { ExchangeCommon } from './exchange-common';
import { toFailure } from './exchange-failures';

/** The order as planned (an intent's figures), before the exchange's rules round it. */
export type PrepareOrderRequest = Pick<OrderIntent, 'symbol' | 'side' | 'type' | 'quantity' | 'price' | 'stopPrice'>;

export interface PreparedOrder {
  quantity: string;
  price?: string;
  stopPrice?: string;
  notional: string;
  baseAsset: string;
  quoteAsset: string;
  /**
   * Which order lists the symbol takes, from exchangeInfo (ocoAllowed, otoAllowed, opoAllowed).
   * Absent in histories recorded before they were reported: read as none allowed.
   */
  lists?: { oco: boolean; oto: boolean; opo: boolean };
}

export function createOrderPreparationActivities(common: ExchangeCommon) {
  const { deps, exchange } = common;

  return {
    /** Symbol rules from the (cached) exchangeInfo, quantity down to the lot step, price to the tick. */
    async prepareOrder(req: PrepareOrderRequest): Promise<PreparedOrder> {
      let rules;
      try {
        rules = symbolRules(await exchange.cachedExchangeInfo(), req.symbol);
      } catch (err) {
        if (err instanceof BinanceError) throw toFailure(err);
        throw ApplicationFailure.nonRetryable(
          `symbol: ${err instanceof Error ? err.message : String(err)}`,
          'OrderRejected',
        );
      }
      // MARKET: the worker's one mark cache (≤ 2 s old, one ticker request for concurrent callers).
      let market: string;
      try {
        market = req.price ?? (deps.marks ? await deps.marks.forTrading(req.symbol) : (await exchange.tickerPrice(req.symbol)).price);
      } catch (err) {
        throw toFailure(err);
      }
      const result = applyFilters(rules, {
        side: req.side,
        type: req.type,
        quantity: req.quantity,
        price: req.price,
        stopPrice: req.stopPrice,
        marketPrice: market,
      });
      if (!result.ok) {
        throw ApplicationFailure.create({
          message: `${result.filter}: ${result.reason}`,
          type: 'OrderRejected',
          nonRetryable: true,
          details: [{ filter: result.filter, reason: result.reason }],
        });
      }
      return {
        quantity: result.quantity,
        price: result.price,
        stopPrice: result.stopPrice,
        notional: result.notional,
        baseAsset: rules.baseAsset,
        quoteAsset: rules.quoteAsset,
        lists: { oco: rules.ocoAllowed, oto: rules.otoAllowed, opo: rules.opoAllowed },
      };
    },
  };
}
