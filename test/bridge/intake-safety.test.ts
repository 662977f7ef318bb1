/** The pure checks of intake-safety.ts: canonical content, age and clock skew, signatures. */
import { checkAge, checkSignature, contentHashOf, signDecisionData } from '../../src/bridge/intake-safety';
import { canonicalJson, RiskDecisionSchema, type RiskDecision } from '../../src/shared/decision';

const NOW = 1_800_000_000_000;
const decision = (extra: Record<string, unknown> = {}): RiskDecision =>
  RiskDecisionSchema.parse({
    decision_id: 'd-1',
    timestamp: NOW,
    symbol: 'BTCUSDT',
    decision: 'approve',
    original_signal: 2,
    approved_size: '0.001',
    ...extra,
  });

test('canonical content: key order, spacing, number spelling and defaults do not matter; any value does', () => {
  expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }, null], e: 'x' })).toBe('{"a":[{"d":2},null],"b":1,"e":"x"}');
  const a = RiskDecisionSchema.parse(JSON.parse('{"approved_size":0.001,"symbol":"BTCUSDT","decision_id":"d-1","timestamp":1800000000000,"decision":"approve","original_signal":2}'));
  const b = decision({ reasons: [], order_type: 'MARKET' });
  expect(contentHashOf(a)).toBe(contentHashOf(b));
  expect(contentHashOf(decision({ approved_size: '0.002' }))).not.toBe(contentHashOf(b));
  expect(contentHashOf(decision({ timestamp: NOW + 1 }))).not.toBe(contentHashOf(b));
  expect(contentHashOf(decision({ reasons: ['x'] }))).not.toBe(contentHashOf(b));
  expect(contentHashOf(b)).toMatch(/^[0-9a-f]{64}$/);
});

test('age: MARKET and resting limits apart, 0 turns a limit off, the future beyond the skew is refused', () => {
  const o = { maxAgeMs: 60_000, maxAgeRestingMs: 300_000, clockSkewMs: 5_000 };
  const limit = { order_type: 'LIMIT', limit_price: '20000' };
  expect(checkAge(decision({ timestamp: NOW - 60_000 }), NOW, o)).toBeUndefined();
  expect(checkAge(decision({ timestamp: NOW - 60_001 }), NOW, o)?.rule).toBe('expired');
  expect(checkAge(decision({ timestamp: NOW - 120_000, ...limit }), NOW, o)).toBeUndefined();
  expect(checkAge(decision({ timestamp: NOW - 300_001, ...limit }), NOW, o)?.reason).toMatch(/^expired: .* older than DECISION_MAX_AGE_RESTING_MS=300000 for a LIMIT order/);
  expect(checkAge(decision({ timestamp: NOW - 86_400_000 }), NOW, { ...o, maxAgeMs: 0 })).toBeUndefined();
  expect(checkAge(decision({ timestamp: NOW + 5_000 }), NOW, o)).toBeUndefined();
  expect(checkAge(decision({ timestamp: NOW + 5_001 }), NOW, o)).toEqual({
    rule: 'future',
    reason: expect.stringMatching(/^future: timestamp 1800000005001 \(2027-01-15T08:00:05\.001Z\) is 5001 ms ahead of this host's clock, more than DECISION_CLOCK_SKEW_MS=5000/),
  });
  // Defaults: 60 s, 5 min, 5 s.
  expect(checkAge(decision({ timestamp: NOW - 61_000 }), NOW, {})?.rule).toBe('expired');
  expect(checkAge(decision({ timestamp: NOW - 299_000, ...limit }), NOW, {})).toBeUndefined();
});

test('signature: HMAC-SHA256 of the data bytes, hex in either case; anything else is unauthenticated', () => {
  const key = 'k'.repeat(32);
  const data = '{"decision_id":"d-1"}';
  const fields = (...f: string[]) => f.map((x) => Buffer.from(x));
  const sig = signDecisionData(data, key);
  expect(checkSignature(fields('data', data, 'sig', sig), key)).toBeUndefined();
  expect(checkSignature(fields('sig', sig.toUpperCase(), 'data', data), key)).toBeUndefined();
  expect(checkSignature(fields('data', data), key)?.reason).toMatch(/no sig field/);
  expect(checkSignature(fields('data', `${data} `, 'sig', sig), key)?.reason).toMatch(/does not match/);
  expect(checkSignature(fields('data', data, 'sig', signDecisionData(data, `${key}!`)), key)?.reason).toMatch(/does not match/);
  expect(checkSignature(fields('data', data, 'sig', sig.slice(2)), key)?.reason).toMatch(/not 64 hex digits/);
  expect(checkSignature(fields('data', data, 'sig', sig, 'sig', sig), key)?.reason).toMatch(/2 sig fields/);
  expect(checkSignature(fields('sig', sig), key)?.reason).toMatch(/no data field/);
});
