/** Values the command table needs without loading the command handlers. */
import type { TradeStatus } from '../../shared/trade';

/** The bridge's input stream (src/bridge/decision-bridge.ts RISK_DECISIONS_STREAM; not imported so the CLI does not load the bridge). */
export const RISK_DECISIONS_STREAM = 'risk_decisions';

export const TRADE_STATUSES: readonly TradeStatus[] = [
  'validating',
  'submitting',
  'working',
  'cancelling',
  'settling',
  'filled',
  'partially_filled',
  'cancelled',
  'expired',
  'rejected',
  'failed',
];
