/**
 * The risk decision as the upstream risk engine publishes it on `risk_decisions`.
 * Imported by the bridge and activities (parsing); workflow code imports decision-types.ts.
 */
import { z } from 'zod';
import { dec, DecimalInput, PositiveDecimalInput } from './decimal';
import { ORDER_TYPES, Signal } from './decision-types';
import { ExchangeSymbolSchema } from './symbol';

// The pure part lives in decision-types.ts (workflow code imports that, never zod); re-exported
// here so that every other importer keeps importing from decision.ts.
export { ORDER_TYPES, Signal, sideOf, workflowIdFor, type DecisionOrderType, type Side } from './decision-types';

/**
 * Decision ids become workflow ids (`trade-<id>`) and, when short enough, part of client order
 * ids, so they are restricted to characters that are safe in both and in a search query.
 */
export const DecisionId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -');

export const RiskDecisionSchema = z
  .object({
    decision_id: DecisionId,
    timestamp: z.number().int().nonnegative().max(8.64e15),
    // As exchangeInfo lists it; UTF-8 symbols since 2025-12 (src/shared/symbol.ts).
    symbol: ExchangeSymbolSchema,
    decision: z.enum(['approve', 'modify', 'reject']),
    original_signal: z.union([z.literal(0), z.literal(1), z.literal(2)]),
    approved_size: DecimalInput,
    reasons: z.array(z.string().max(1000)).max(100).default([]),
    order_type: z.enum(ORDER_TYPES).default('MARKET'),
    limit_price: PositiveDecimalInput.optional(),
    time_in_force: z.enum(['GTC', 'IOC', 'FOK']).optional(),
    stop_price: PositiveDecimalInput.optional(),
    stop_limit_price: PositiveDecimalInput.optional(),
    take_profit_price: PositiveDecimalInput.optional(),
    stop_loss: PositiveDecimalInput.optional(),
    take_profit: PositiveDecimalInput.optional(),
    timeout_ms: z.number().int().min(1000).max(30 * 24 * 3600 * 1000).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.decision === 'reject') return;
    if (d.original_signal === Signal.HOLD) {
      ctx.addIssue({ code: 'custom', path: ['original_signal'], message: 'an approved HOLD (1) has no side to trade' });
    }
    if (!dec(d.approved_size).gt(0)) {
      ctx.addIssue({ code: 'custom', path: ['approved_size'], message: 'must be greater than 0 for an executed decision' });
    }
    const need = (field: keyof typeof d, why: string) => {
      if (d[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `is required ${why}` });
    };
    switch (d.order_type) {
      case 'LIMIT':
        need('limit_price', 'for a LIMIT order');
        break;
      case 'STOP_LOSS_LIMIT':
      case 'TAKE_PROFIT_LIMIT':
        need('stop_price', `for a ${d.order_type} order`);
        need('limit_price', `for a ${d.order_type} order`);
        break;
      case 'OCO':
        need('take_profit_price', 'for an OCO order');
        need('stop_price', 'for an OCO order');
        need('stop_limit_price', 'for an OCO order');
        break;
      case 'MARKET':
        break;
    }
  });

export type RiskDecision = z.output<typeof RiskDecisionSchema>;

/** "original_signal: an approved HOLD ..." — one line naming each field and its problem. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(entry)'}: ${i.message}`)
    .join('; ');
}

/**
 * The canonical text of a parsed decision, the input of its content hash: JSON with the keys of
 * every object sorted (by UTF-16 code units, as Array.prototype.sort does) and undefined values
 * dropped, as JSON.stringify drops them. Two entries that parse to the same decision have the same
 * text whatever their key order, spacing or number spelling (decimals are normalised strings once
 * parsed), so "same id, same content" is a duplicate and anything else a conflict.
 */
export function canonicalDecisionText(decision: RiskDecision): string {
  return canonicalJson(decision);
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
