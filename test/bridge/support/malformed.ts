/** Generated malformed `risk_decisions` entries, each with the reason the bridge must give. */
import { approve } from './harness';

export type Fields = Array<string | Buffer>;
export interface Bad {
  kind: string;
  fields: Fields;
  /** What the dead-letter reason must say. */
  reason: RegExp;
}

export const json = (o: unknown) => JSON.stringify(o);
const without = (o: Record<string, unknown>, k: string) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));

/** The i-th malformed entry: a few dozen kinds, cycled; `id` makes each one distinct. */
export function malformed(i: number, id: string): Bad {
  const d = approve(id);
  const kinds: Array<() => Bad> = [
    () => ({ kind: 'not json', fields: ['data', `{"decision_id": "${id}", `], reason: /^data: not valid JSON/ }),
    () => ({ kind: 'empty', fields: ['data', ''], reason: /^data: not valid JSON/ }),
    () => ({ kind: 'id number', fields: ['data', json({ ...d, decision_id: i })], reason: /decision_id: / }),
    () => ({ kind: 'timestamp string', fields: ['data', json({ ...d, timestamp: '2024-01-01' })], reason: /timestamp: / }),
    () => ({ kind: 'timestamp float', fields: ['data', json({ ...d, timestamp: 1.5 })], reason: /timestamp: / }),
    () => ({ kind: 'timestamp negative', fields: ['data', json({ ...d, timestamp: -1 })], reason: /timestamp: / }),
    () => ({ kind: 'size object', fields: ['data', json({ ...d, approved_size: { v: 1 } })], reason: /approved_size: / }),
    () => ({ kind: 'size NaN', fields: ['data', json({ ...d, approved_size: 'NaN' })], reason: /approved_size: / }),
    () => ({ kind: 'size zero', fields: ['data', json({ ...d, approved_size: '0' })], reason: /approved_size: must be greater than 0/ }),
    () => ({ kind: 'signal 7', fields: ['data', json({ ...d, original_signal: 7 })], reason: /original_signal: / }),
    () => ({ kind: 'hold approved', fields: ['data', json({ ...d, original_signal: 1 })], reason: /original_signal: an approved HOLD/ }),
    () => ({ kind: 'no symbol', fields: ['data', json(without(d, 'symbol'))], reason: /symbol: / }),
    () => ({ kind: 'no decision', fields: ['data', json(without(d, 'decision'))], reason: /decision: / }),
    () => ({ kind: 'no id', fields: ['data', json(without(d, 'decision_id'))], reason: /decision_id: / }),
    () => ({ kind: 'decision maybe', fields: ['data', json({ ...d, decision: 'maybe' })], reason: /decision: / }),
    () => ({ kind: 'lower symbol', fields: ['data', json({ ...d, symbol: 'btcusdt' })], reason: /symbol: must be an exchange symbol/ }),
    () => ({ kind: 'id chars', fields: ['data', json({ ...d, decision_id: `${id} /x` })], reason: /decision_id: may contain only/ }),
    () => ({ kind: 'id huge', fields: ['data', json({ ...d, decision_id: `${id}${'x'.repeat(500)}` })], reason: /decision_id: must be at most 128/ }),
    () => ({ kind: 'limit no price', fields: ['data', json({ ...d, order_type: 'LIMIT' })], reason: /limit_price: is required for a LIMIT order/ }),
    () => ({ kind: 'reasons too many', fields: ['data', json({ ...d, reasons: Array(101).fill('r') })], reason: /reasons: / }),
    () => ({ kind: 'data huge', fields: ['data', json({ ...d, reasons: ['y'.repeat(70_000)] })], reason: /^data: \d+ bytes is larger than the 65536 allowed/ }),
    () => ({ kind: 'array', fields: ['data', json([d])], reason: /^data: must be a JSON object, got an array/ }),
    () => ({ kind: 'null', fields: ['data', 'null'], reason: /^data: must be a JSON object, got null/ }),
    () => ({ kind: 'number', fields: ['data', '42'], reason: /^data: must be a JSON object, got a number/ }),
    () => ({ kind: 'deep', fields: ['data', '['.repeat(20_000) + ']'.repeat(20_000)], reason: /^data: JSON nested more than 32 levels deep$/ }),
    () => ({
      kind: 'utf8 in data',
      fields: ['data', Buffer.concat([Buffer.from(`{"decision_id":"${id}","symbol":"BTC`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')])],
      reason: /^data: not valid UTF-8/,
    }),
    () => ({ kind: 'utf8 in name', fields: [Buffer.from([0x64, 0x61, 0xff, 0x74, 0x61]), json(d)], reason: /^data: field missing/ }),
    () => ({ kind: 'wrong name', fields: ['payload', json(d)], reason: /^data: field missing from the stream entry \(it has: "payload"\)/ }),
    () => ({ kind: 'flat fields', fields: ['decision_id', id, 'symbol', 'BTCUSDT', 'decision', 'approve'], reason: /^data: field missing/ }),
    () => ({ kind: 'data twice', fields: ['data', json(d), 'data', json({ ...d, approved_size: '5' })], reason: /^data: field appears 2 times/ }),
    () => ({ kind: 'proto', fields: ['data', `{"__proto__":{"decision":"approve"},"decision_id":"${id}"}`], reason: /timestamp: / }),
    // Would pass the schema, but Postgres cannot store \u0000 or a lone surrogate (text or jsonb).
    () => ({ kind: 'nul in reasons', fields: ['data', json({ ...d, reasons: ['a\u0000b'] })], reason: /^reasons\.0: the text contains a NUL character/ }),
    () => ({ kind: 'lone surrogate', fields: ['data', `{"decision_id":"${id}","symbol":"\\udc00BTC"}`], reason: /^symbol: the text contains an unpaired UTF-16 surrogate/ }),
  ];
  return kinds[i % kinds.length]!();
}

