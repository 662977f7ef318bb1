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
