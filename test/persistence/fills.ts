/** Fills as the store takes them, for the store tests. */
import type { FillInput } from '../../src/persistence/schemas';

/** A fill of `symbol`'s trade `tradeId` (its order: exchange id 1000 + tradeId, client id `coid-<symbol>-<tradeId>`), taker, no commission unless `extra` says so. */
export function fill(symbol: string, tradeId: number, side: 'BUY' | 'SELL', qty: string, price: string, extra: Partial<FillInput> = {}): FillInput {
  return {
    symbol,
    trade_id: tradeId,
    exchange_order_id: 1000 + tradeId,
    client_order_id: `coid-${symbol}-${tradeId}`,
    side,
    price,
    qty,
    commission: '0',
    commission_asset: 'USDT',
    is_maker: false,
    trade_time: 1_700_000_000_000 + tradeId,
    ...extra,
  };
}
