/**
 * TradeExecution: one approved risk decision, from validation to the execution report.
 *
 * The workflow registers its handlers (workflows/trade-handlers.ts) and waits for the trade to
 * run; the logic lives in the Trade class (workflows/trade.ts and the modules it composes), the
 * activities it may use in workflows/trade-activities.ts.
 *
 * Executions that began under the code of release bc28240 and before (no `trade-v3` marker in
 * their history) replay through that code, kept frozen in workflows/legacy/.
 */
import { patched } from '@temporalio/workflow';
import type { TradeInput, TradeState } from '../src/shared/trade';
import { tradeExecutionV2 } from './legacy/trade-execution-v2';
import { Trade } from './trade';
import { tradeActivities } from './trade-activities';
import { registerTradeHandlers } from './trade-handlers';

export async function TradeExecution(input: TradeInput): Promise<TradeState> {
  if (!patched('trade-v3')) return tradeExecutionV2(input);
  const trade = new Trade(input, tradeActivities(input.orderTaskQueue));
  registerTradeHandlers(trade);
  return trade.run();
}
