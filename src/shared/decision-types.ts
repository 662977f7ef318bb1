/**
 * The pure part of a risk decision: its constants, side and workflow id. No zod, no decimal.js,
 * so workflow code can import it without pulling the schema into the workflow bundle (issue 12);
 * the schema that parses decisions stays in decision.ts, which re-exports all of this.
 */

/** Upstream model's signal: 2 = BUY, 0 = SELL, 1 = HOLD. */
export const Signal = { SELL: 0, HOLD: 1, BUY: 2 } as const;

export const ORDER_TYPES = ['MARKET', 'LIMIT', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT', 'OCO'] as const;
export type DecisionOrderType = (typeof ORDER_TYPES)[number];

export type Side = 'BUY' | 'SELL';

export function sideOf(signal: 0 | 1 | 2): Side | undefined {
  if (signal === Signal.BUY) return 'BUY';
  if (signal === Signal.SELL) return 'SELL';
  return undefined;
}

export function workflowIdFor(decisionId: string): string {
  return `trade-${decisionId}`;
}
