/**
 * Turning one raw `risk_decisions` stream entry into a validated RiskDecision, or a reason.
 *
 * Pure module. The bridge reads entries as Buffers (not strings) so that bytes which are not
 * UTF-8 are noticed here instead of being silently replaced by U+FFFD, and so that such an entry
 * can be copied to the dead-letter stream byte for byte.
 *
 * An entry is `data <JSON of a RiskDecision>`; other fields are ignored (upstream may add
 * metadata). Every reason names the field and the problem: `data: not valid JSON (...)`,
 * `decision_id: may contain only letters, ...`.
 */
import { describeZodError, RiskDecisionSchema, type RiskDecision } from '../shared/decision';

/** Largest `data` value accepted; a decision is a few hundred bytes. */
export const MAX_DATA_BYTES = 64 * 1024;
/** Deepest JSON nesting accepted (a decision is 2 deep); deeper input is refused before parsing. */
export const MAX_JSON_DEPTH = 32;
/** Longest reason kept (a zod error on a hostile payload could list many issues). */
const MAX_REASON_CHARS = 2000;

export type RawFields = Buffer[];

export type ParsedEntry =
  | { ok: true; decision: RiskDecision; raw: string }
  | { ok: false; reason: string; decisionId?: string; raw?: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DATA = Buffer.from('data');

/** Parses an entry's field/value list (as Redis returned it, in Buffers). */
export function parseEntry(fields: RawFields): ParsedEntry {
  if (fields.length % 2 !== 0) {
    return { ok: false, reason: `(entry): ${fields.length} fields and values, expected field/value pairs` };
  }
  const dataAt: number[] = [];
  for (let i = 0; i < fields.length; i += 2) if (fields[i]!.equals(DATA)) dataAt.push(i + 1);
  if (dataAt.length === 0) {
    const names = [];
    for (let i = 0; i < fields.length && names.length < 10; i += 2) names.push(printable(fields[i]!, 40));
    return { ok: false, reason: `data: field missing from the stream entry (it has: ${names.join(', ') || 'no fields'})` };
  }
  if (dataAt.length > 1) return { ok: false, reason: `data: field appears ${dataAt.length} times; which one is meant is unknown` };
  return parseData(fields[dataAt[0]!]!);
}

/** Parses the bytes of a `data` value. */
export function parseData(value: Buffer): ParsedEntry {
  if (value.length > MAX_DATA_BYTES) {
    return { ok: false, reason: `data: ${value.length} bytes is larger than the ${MAX_DATA_BYTES} allowed` };
  }
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { ok: false, reason: `data: not valid UTF-8 (invalid byte sequence detected at offset ${firstInvalidUtf8(value)})`, raw: value.toString('utf8') };
  }
  const depth = jsonDepth(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) {
    // No raw text: whatever processes it next (the audit record's JSON handling) would recurse as deep.
    return { ok: false, reason: `data: JSON nested more than ${MAX_JSON_DEPTH} levels deep` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: cap(`data: not valid JSON (${err instanceof Error ? err.message : String(err)})`), raw: text };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const kind = json === null ? 'null' : Array.isArray(json) ? 'an array' : `a ${typeof json}`;
    return { ok: false, reason: `data: must be a JSON object, got ${kind}`, raw: text };
  }
  const unstorable = findUnstorableText(json);
  if (unstorable) {
    // No raw text: the audit record would be refused for the same reason.
    const id = (json as Record<string, unknown>).decision_id;
    return { ok: false, reason: unstorable, decisionId: typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined };
  }
  const result = RiskDecisionSchema.safeParse(json);
  if (result.success) return { ok: true, decision: result.data, raw: text };
  const id = (json as Record<string, unknown>).decision_id;
  return {
    ok: false,
    reason: cap(describeZodError(result.error)),
    decisionId: typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined,
    raw: text,
  };
}

/** A field name for a message: UTF-8 when it is, else hex; shortened. */
export function printable(b: Buffer, max: number): string {
  let s: string;
  try {
    s = JSON.stringify(utf8.decode(b));
  } catch {
    s = `0x${b.subarray(0, max).toString('hex')}`;
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function firstInvalidUtf8(b: Buffer): number {
  const d = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < b.length; i++) {
    try {
      d.decode(b.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  return b.length; // a sequence cut short at the end
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text Postgres cannot store (text and jsonb refuse NUL and unpaired surrogates), which JSON
 * can carry as \u0000 or \ud800 escapes: such a decision could never be recorded, so it is
 * refused here, naming where the text is. Returns the reason, or undefined.
 */
export function findUnstorableText(value: unknown, path: string[] = []): string | undefined {
  const check = (s: string, where: string[], what: string): string | undefined => {
    // Names are echoed escaped when odd, so the reason itself stays storable.
    const at = where.length ? where.map((k) => (/^[\w-]+$/.test(k) ? k : JSON.stringify(k))).join('.') : '(data)';
    if (s.includes('\u0000')) return `${at}: ${what} contains a NUL character (\\u0000), which cannot be stored`;
    if (LONE_SURROGATE.test(s)) return `${at}: ${what} contains an unpaired UTF-16 surrogate, which cannot be stored`;
    return undefined;
  };
  if (typeof value === 'string') return check(value, path, 'the text');
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const here = [...path, k];
    const bad = check(k, here, 'the field name') ?? findUnstorableText(v, here);
    if (bad) return bad;
  }
  return undefined;
}

/** Nesting depth of JSON text (brackets outside strings), counting only up to just past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

function cap(reason: string): string {
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
}
