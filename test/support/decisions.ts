import { sideOf, type RiskDecision } from '../../src/shared/decision';
import { SA } from '../../src/shared/search-attributes';

/** A risk decision as the risk engine sends it on `risk_decisions`: approved, 0.001 BTCUSDT BUY (original_signal 2), MARKET unless `extra` says otherwise. */
export function approvedDecision(decisionId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    decision_id: decisionId,
    timestamp: Date.now(),
    symbol: 'BTCUSDT',
    decision: 'approve',
    original_signal: 2,
    approved_size: '0.001',
    reasons: [],
    ...extra,
  };
}

/** The search attributes a trade's workflow is started with (as the bridge starts it): status `validating`. */
export function startSearchAttributes(decision: RiskDecision) {
  return [
    { key: SA.symbol, value: decision.symbol },
    { key: SA.side, value: sideOf(decision.original_signal) ?? 'NONE' },
    { key: SA.orderType, value: decision.order_type },
    { key: SA.status, value: 'validating' },
    { key: SA.decisionId, value: decision.decision_id },
  ];
}
