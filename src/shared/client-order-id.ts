/**
 * Deterministic client order ids: the same workflow and purpose always give the same id, so a
 * retried submission is recognisable on the exchange and can be adopted instead of duplicated.
 *
 * Binance accepts at most 36 characters of [.A-Z:/a-z0-9_-]. A short decision id is kept
 * readable (`te-d-42-e`) so an operator can match exchange and workflow by eye; a long one is
 * replaced by the first 20 hex digits of SHA-256 of the workflow id (80 bits: no collision at
 * any realistic number of decisions).
 */
import { sha256Hex } from './sha256';
import type { OrderPurpose } from './trade';

export const CLIENT_ORDER_ID_PATTERN = /^[.A-Z:/a-z0-9_-]{1,36}$/;

function purposeCode(p: OrderPurpose): string {
  switch (p.kind) {
    case 'entry':
      return `e${p.leg ?? ''}`;
    case 'replacement':
      return `r${p.n}`;
    case 'close':
      return `x${p.n}`;
    case 'bracket':
      return `b${p.n}${p.leg ?? ''}`;
  }
}

export function clientOrderIdFor(workflowId: string, decisionId: string, purpose: OrderPurpose): string {
  const suffix = purposeCode(purpose);
  const readable = `te-${decisionId}-${suffix}`;
  if (readable.length <= 36 && CLIENT_ORDER_ID_PATTERN.test(readable)) return readable;
  return `te-${sha256Hex(workflowId).slice(0, 20)}-${suffix}`;
}
