/**
 * What a Binance Spot symbol may look like. Until 2025-12 every symbol was ASCII upper case,
 * digits and `-_.` (the "legal range" in Binance's -1100 messages). Since 2025-12-02 the
 * `symbol` and `symbols` parameters take Unicode in UTF-8 (CHANGELOG; Spot Testnet lists
 * `这是测试币456`, the docs sign an order for `１２３４５６`), so a symbol that exchangeInfo
 * lists must get through our checks.
 *
 * The check stays a guard against mistakes, not a second copy of exchangeInfo: the ASCII part
 * is what it always was (so `btcusdt` or `BTC USDT` is still refused before anything is sent),
 * and beyond ASCII only letters, digits and combining marks are accepted. Whitespace, control
 * and format characters (zero-width joiners, bidi overrides), symbols and punctuation are not:
 * no listed symbol has them, and a name carrying them would look like another in a log. Length
 * is at most 20 characters (code points), as for ASCII symbols. Nothing is normalised: Binance
 * compares what it is sent, so an order names its symbol exactly as exchangeInfo spells it.
 */
import { z } from 'zod';

export const EXCHANGE_SYMBOL = /^(?:[A-Z0-9\-_.]|(?![\u0000-\u007f])[\p{L}\p{N}\p{M}]){1,20}$/u;

export function isExchangeSymbol(s: string): boolean {
  return EXCHANGE_SYMBOL.test(s);
}

export const ExchangeSymbolSchema = z
  .string()
  .regex(EXCHANGE_SYMBOL, 'must be an exchange symbol as exchangeInfo lists it, such as BTCUSDT (upper-case ASCII or other letters and digits, at most 20 characters)');
