/** Pure parts of the bridge: parsing a raw stream entry, and the shared backoff gate. */
import { MAX_DATA_BYTES, parseEntry } from '../../src/bridge/entry';
import { RetryGate } from '../../src/bridge/retry-gate';

const b = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s));
const valid = {
  decision_id: 'd-1',
  timestamp: 1_700_000_000_000,
  symbol: 'BTCUSDT',
  decision: 'approve',
  original_signal: 2,
  approved_size: '0.001',
};
const reasonOf = (fields: Buffer[]) => {
  const r = parseEntry(fields);
  return r.ok ? 'ok' : r.reason;
};

describe('parseEntry', () => {
  test('a valid decision, with unknown extra fields ignored', () => {
    const r = parseEntry([b('source'), b('risk-engine-7'), b('data'), b(JSON.stringify({ ...valid, extra: 1 }))]);
    expect(r.ok).toBe(true);
    expect(r.ok && r.decision).toMatchObject({ decision_id: 'd-1', order_type: 'MARKET', reasons: [] });
  });

  test('every reason names the field and the problem', () => {
    expect(reasonOf([b('data')])).toBe('(entry): 1 fields and values, expected field/value pairs');
    expect(reasonOf([b('payload'), b('{}')])).toBe('data: field missing from the stream entry (it has: "payload")');
    expect(reasonOf([b('da'), b('x'), b([0xff]), b('y')])).toBe('data: field missing from the stream entry (it has: "da", 0xff)');
    expect(reasonOf([b('data'), b('{}'), b('data'), b('{}')])).toBe('data: field appears 2 times; which one is meant is unknown');
    expect(reasonOf([b('data'), Buffer.alloc(MAX_DATA_BYTES + 1, 0x20)])).toBe('data: 65537 bytes is larger than the 65536 allowed');
    expect(reasonOf([b('data'), b([0x7b, 0x22, 0xc3, 0x28])])).toBe('data: not valid UTF-8 (invalid byte sequence detected at offset 3)');
    expect(reasonOf([b('data'), b('{"a":')])).toMatch(/^data: not valid JSON \(/);
    expect(reasonOf([b('data'), b('[1]')])).toBe('data: must be a JSON object, got an array');
    expect(reasonOf([b('data'), b('"s"')])).toBe('data: must be a JSON object, got a string');
    expect(reasonOf([b('data'), b('['.repeat(33) + ']'.repeat(33))])).toBe('data: JSON nested more than 32 levels deep');
    expect(reasonOf([b('data'), b('['.repeat(32) + ']'.repeat(32))])).toBe('data: must be a JSON object, got an array');
    expect(reasonOf([b('data'), b(JSON.stringify({ ...valid, reasons: ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'] }))])).toBe('ok');
    expect(reasonOf([b('data'), b(JSON.stringify({ ...valid, symbol: 'btc' }))])).toMatch(/^symbol: must be an exchange symbol/);
    expect(reasonOf([b('data'), b(JSON.stringify({ ...valid, original_signal: 1 }))])).toBe('original_signal: an approved HOLD (1) has no side to trade');
    expect(reasonOf([b('data'), b(JSON.stringify({ ...valid, reasons: ['ok', 'a\u0000'] }))])).toBe(
      'reasons.1: the text contains a NUL character (\\u0000), which cannot be stored',
    );
    expect(reasonOf([b('data'), b('{"decision_id":"d","x\\ud800":1}')])).toBe('"x\\ud800": the field name contains an unpaired UTF-16 surrogate, which cannot be stored');
    expect(reasonOf([b('data'), b(JSON.stringify({ ...valid, reasons: ['😀 paired is fine'] }))])).toBe('ok');
    const many = reasonOf([b('data'), b(JSON.stringify({ decision_id: 'x' }))]);
    expect(many).toMatch(/timestamp: .*; symbol: .*; decision: /);
  });

  test('an invalid decision keeps its id (when it is a plausible one) and its text for the record', () => {
    const r = parseEntry([b('data'), b(JSON.stringify({ ...valid, symbol: 'btc' }))]);
    expect(r).toMatchObject({ ok: false, decisionId: 'd-1' });
    expect(!r.ok && r.raw).toContain('"btc"');
    const long = parseEntry([b('data'), b(JSON.stringify({ ...valid, decision_id: 'x'.repeat(200) }))]);
    expect(long).toMatchObject({ ok: false, decisionId: undefined });
  });

  test('reasons stay short even for hostile input', () => {
    const hostile = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, i]));
    const r = reasonOf([b('data'), b(JSON.stringify({ ...hostile, reasons: Array(500).fill(5) }))]);
    expect(r.length).toBeLessThanOrEqual(2001);
  });
});

describe('RetryGate', () => {
  test('backs off exponentially up to the ceiling; failures while closed are one round; success resets', async () => {
    let now = 1000;
    const gate = new RetryGate({ initialMs: 100, maxMs: 1000, jitter: 0, now: () => now });
    expect(gate.isOpen).toBe(true);
    expect(gate.fail()).toEqual({ failures: 1, retryInMs: 100, closedNow: true });
    expect(gate.isOpen).toBe(false);
    expect(gate.fail()).toEqual({ failures: 1, retryInMs: 100, closedNow: false });
    const delays = [];
    for (let i = 0; i < 6; i++) {
      now += 10_000;
      delays.push(gate.fail().retryInMs);
    }
    expect(delays).toEqual([200, 400, 800, 1000, 1000, 1000]);
    now += 500;
    expect(gate.succeed()).toBe(60_500);
    expect(gate.isOpen).toBe(true);
    expect(gate.succeed()).toBeUndefined();
    expect(gate.fail().retryInMs).toBe(100);
  });

  test('wait() resolves when the gate opens, and at once after interrupt()', async () => {
    const gate = new RetryGate({ initialMs: 50, jitter: 0 });
    gate.fail();
    const t0 = Date.now();
    await gate.wait();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const slow = new RetryGate({ initialMs: 60_000, jitter: 0 });
    slow.fail();
    const waiting = slow.wait();
    slow.interrupt();
    await waiting;
    await slow.wait();
    expect(slow.isOpen).toBe(false);
  });
});
