/**
 * Search attributes that make trades findable in the Temporal UI ("every in-flight BTCUSDT
 * order"). The dev server must have them registered before a workflow sets them, so the
 * list below is the single source for registration (dev server flags, docker-compose) and use.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  symbol: defineSearchAttributeKey('TradeSymbol', SearchAttributeType.KEYWORD),
  side: defineSearchAttributeKey('TradeSide', SearchAttributeType.KEYWORD),
  orderType: defineSearchAttributeKey('TradeOrderType', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('TradeStatus', SearchAttributeType.KEYWORD),
  decisionId: defineSearchAttributeKey('DecisionId', SearchAttributeType.KEYWORD),
  clientOrderId: defineSearchAttributeKey('ClientOrderId', SearchAttributeType.KEYWORD_LIST),
} as const;

/** `NAME=Type` pairs as `temporal server start-dev --search-attribute` and `operator search-attribute create` take them. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS: ReadonlyArray<{ name: string; type: 'Keyword' | 'KeywordList' }> = [
  { name: SA.symbol.name, type: 'Keyword' },
  { name: SA.side.name, type: 'Keyword' },
  { name: SA.orderType.name, type: 'Keyword' },
  { name: SA.status.name, type: 'Keyword' },
  { name: SA.decisionId.name, type: 'Keyword' },
  { name: SA.clientOrderId.name, type: 'KeywordList' },
];
