/** The logger's redaction and the Temporal log adapter, without services. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import { registerSecret, scrubSecrets, temporalLoggerFor, temporalMetaToFields } from '../../src/logging';

test('scrubSecrets replaces registered and environment secrets, signatures and URL passwords', () => {
  registerSecret('registered-secret-123');
  registerSecret('short'); // too short to scrub by value
  const line = JSON.stringify({
    msg: 'GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=0123456789abcdef0123456789abcdef failed',
    nested: 'registered-secret-123 and "quoted\\"registered-secret-123"',
    url: 'postgres://trade:hunter2hunter2@db:5432/trade',
    envSecret: 'envsecretvalue42',
    other: 'short',
  });
  const out = scrubSecrets(line, ['envsecretvalue42']);
  expect(out).not.toContain('registered-secret-123');
  expect(out).not.toContain('0123456789abcdef0123456789abcdef');
  expect(out).not.toContain('hunter2hunter2');
  expect(out).not.toContain('envsecretvalue42');
  expect(out).toContain('signature=[redacted]');
  expect(out).toContain('postgres://trade:***@db:5432/trade');
  expect(out).toContain('"other":"short"');
  expect(() => JSON.parse(out)).not.toThrow();
});

test('createLogger redacts credentials by key and by value (environment) in a real process', () => {
  const script = `
    const { createLogger } = require(${JSON.stringify(path.resolve(__dirname, '../../src/logging.ts'))});
    const log = createLogger('t', 'info');
    log.info({ apiSecret: 'k1', headers: { 'X-MBX-APIKEY': 'k2' }, config: { BINANCE_API_SECRET: 'k3' } }, 'plain');
    log.error({ err: new Error('request failed for key ' + process.env.BINANCE_API_KEY) }, 'secret ' + process.env.BINANCE_API_SECRET + ' in a message');
  `;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    cwd: path.resolve(__dirname, '../..'),
    env: { PATH: process.env.PATH, BINANCE_API_KEY: 'KeyInTheEnvironment0001', BINANCE_API_SECRET: 'SecretInTheEnvironment0001' },
    encoding: 'utf8',
  });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatchObject({ apiSecret: '[redacted]', headers: { 'X-MBX-APIKEY': '[redacted]' }, config: { BINANCE_API_SECRET: '[redacted]' } });
  expect(out).not.toContain('KeyInTheEnvironment0001');
  expect(out).not.toContain('SecretInTheEnvironment0001');
  expect(lines[1].msg).toBe('secret [redacted] in a message');
});

test('TRADE_EXEC_UNSCRUBBED_LOGS=1 with NODE_ENV=test (test runs only) writes a secret a line carries as it is; key names and patterns still redacted', () => {
  const script = `
    const { createLogger } = require(${JSON.stringify(path.resolve(__dirname, '../../src/logging.ts'))});
    const log = createLogger('t', 'info');
    log.info({ apiSecret: process.env.BINANCE_API_SECRET }, 'secret ' + process.env.BINANCE_API_SECRET + ' signature=0123456789abcdef0123456789abcdef');
  `;
  const run = (extra: Record<string, string>) =>
    execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
      cwd: path.resolve(__dirname, '../..'),
      env: { PATH: process.env.PATH, BINANCE_API_SECRET: 'SecretInTheEnvironment0002', ...extra },
      encoding: 'utf8',
    });
  const scrubbed = JSON.parse(run({}));
  expect(scrubbed.msg).toBe('secret [redacted] signature=[redacted]');
  // Outside a test run (no NODE_ENV=test) the variable changes nothing: a production process scrubs.
  expect(JSON.parse(run({ TRADE_EXEC_UNSCRUBBED_LOGS: '1' })).msg).toBe('secret [redacted] signature=[redacted]');
  const raw = JSON.parse(run({ TRADE_EXEC_UNSCRUBBED_LOGS: '1', NODE_ENV: 'test' }));
  // What a careless code path wrote is visible, so a grep for the secret finds it.
  expect(raw.msg).toBe('secret SecretInTheEnvironment0002 signature=[redacted]');
  expect(raw.apiSecret).toBe('[redacted]');
});

test('no duplicate keys: component from the name or the child, a msg field kept as detail', () => {
  const script = `
    const { createLogger } = require(${JSON.stringify(path.resolve(__dirname, '../../src/logging.ts'))});
    const log = createLogger('service', 'info');
    log.info('root');
    log.child({ component: 'bridge' }).warn({ code: -1001, msg: 'Internal error' }, 'outcome unknown');
  `;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.resolve(__dirname, '../..'), env: { PATH: process.env.PATH }, encoding: 'utf8' });
  const [root, child] = out.trim().split('\n');
  for (const line of [root!, child!]) for (const key of ['component', 'msg']) expect(line.split(`"${key}":`)).toHaveLength(2);
  expect(JSON.parse(root!)).toMatchObject({ component: 'service', msg: 'root' });
  expect(JSON.parse(child!)).toMatchObject({ component: 'bridge', msg: 'outcome unknown', detail: 'Internal error', code: -1001 });
});

test('the Temporal logger adapter writes pino lines with decisionId derived from the workflow id', () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const t = temporalLoggerFor(logger);
  t.info('Activity completed', { workflowId: 'trade-abc-1', activityType: 'placeOrder', durationMs: 12, [Symbol('ts')]: 1n });
  t.warn('Activity failed', { workflowId: 'trade-abc-1', error: new Error('boom'), attempt: 2n });
  t.trace('not shown', { workflowId: 'trade-x' });
  t.log('ERROR', 'other workflow', { workflowId: 'reconciliation-1' });
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatchObject({ level: 30, msg: 'Activity completed', workflowId: 'trade-abc-1', decisionId: 'abc-1', activityType: 'placeOrder' });
  expect(lines[1]).toMatchObject({ level: 40, decisionId: 'abc-1', attempt: '2', err: { message: 'boom' } });
  expect(lines[2]).toMatchObject({ level: 50, workflowId: 'reconciliation-1' });
  expect(lines[2]!.decisionId).toBeUndefined();
  expect(temporalMetaToFields({ workflowId: 'trade-a', decisionId: 'explicit' }).decisionId).toBe('explicit');
});
