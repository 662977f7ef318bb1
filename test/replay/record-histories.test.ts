/**
 * Records workflow histories for the replay test. Skipped in normal runs; run it when a release
 * changes workflow code, so that histories of the previous release stay in test/replay/histories:
 *
 *   RECORD_HISTORIES=1 npx jest --runInBand test/replay/record-histories
 *
 * Each history is a real run on the dev server against the paper exchange.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { testServices } from '../support/services';
import { startTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';

const record = process.env.RECORD_HISTORIES === '1' ? describe : describe.skip;
const DIR = path.join(__dirname, 'histories');
const RELEASE = process.env.HISTORY_RELEASE ?? 'v2';

record('record histories', () => {
  let h: TradeHarness;
  beforeAll(async () => {
    h = await startTradeHarness({ name: 'record' });
    h.paper.setPrice('BTCUSDT', '60000');
  }, 120_000);
  afterAll(() => h?.stop());

  const save = async (name: string, workflowId: string, runId?: string) => {
    // The CLI's JSON (the same as the UI's download), which replay tools read.
    const env = testServices();
    const json = execFileSync(env.temporalCliPath, [
      'workflow', 'show', '--workflow-id', workflowId, ...(runId ? ['--run-id', runId] : []), '--output', 'json',
      '--address', env.temporalAddress, '--namespace', env.namespace,
    ]);
    fs.writeFileSync(path.join(DIR, `${RELEASE}-${name}.json`), json);
  };

  test('market', async () => {
    const handle = await h.start({ decision_id: h.id('market') });
    await h.result(handle);
    await save('market', handle.workflowId);
  });

  test('limit that times out after a partial view and is cancelled', async () => {
    const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 4000 });
    await h.result(handle);
    await save('limit-timeout', handle.workflowId);
  });

  test('limit amended then filled', async () => {
    const handle = await h.start({ decision_id: h.id('amend'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 60000 });
    await eventually('resting', async () => (await h.state(handle)).status === 'working');
    await handle.executeUpdate('amend', { args: [{ price: '59000' }] });
    h.paper.setPrice('BTCUSDT', '58900');
    await h.result(handle);
    h.paper.setPrice('BTCUSDT', '60000');
    await save('limit-amend', handle.workflowId);
  });

  test('market entry with an OCO bracket', async () => {
    const handle = await h.start({ decision_id: h.id('bracket'), approved_size: '0.01', take_profit: '61000', stop_loss: '59000' });
    await eventually('bracket resting', async () => {
      const s = await h.state(handle);
      return s.phase === 'bracket' && s.status === 'working';
    });
    h.paper.setPrice('BTCUSDT', '61100');
    await h.result(handle);
    h.paper.setPrice('BTCUSDT', '60000');
    await save('bracket', handle.workflowId);
  });

  test('cancelled by the operator from the UI', async () => {
    const handle = await h.start({ decision_id: h.id('uicancel'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 60000 });
    await eventually('resting', async () => (await h.state(handle)).status === 'working');
    await handle.cancel();
    await h.result(handle).catch(() => undefined);
    await save('ui-cancel', handle.workflowId);
  });

  // Shapes recorded since v3 (the Trade class): replay tests cover each path's commands.
  const since = (release: string) => (RELEASE >= release ? test : test.skip);

  since('v3')('a resting limit that continues as new, then is cancelled', async () => {
    // Since v4 a covered order is not polled, so history grows slowly: a lower limit rolls it over at the first check.
    const handle = await h.start({ decision_id: h.id('can'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 60000 }, 30_000, { historyEventLimit: RELEASE >= 'v4' ? 10 : 40 });
    const firstRun = (await handle.describe()).runId;
    await eventually('a second run', async () => (await handle.describe()).runId !== firstRun, 90_000);
    await handle.executeUpdate('cancel', { args: [{ reason: 'recorded' }] });
    await h.result(handle);
    await save('continue-as-new', handle.workflowId, firstRun);
  });

  since('v3')('a MARKET that cannot be placed through an outage fails, settled as never placed', async () => {
    // Orders only: the rules and the mark are read, every placement is refused with a 503.
    h.paper.faults.inject({ kind: 'outage', ms: 150_000, mode: 'http503', method: 'POST', path: '/api/v3/order' });
    const handle = await h.start({ decision_id: h.id('failed') });
    const final = await h.result(handle);
    h.paper.faults.clear();
    if (final.status !== 'failed') throw new Error(`expected a failed trade, got ${final.status}`);
    await save('failed', handle.workflowId);
  }, 300_000);

  since('v3')('an OCO entry', async () => {
    const handle = await h.start({ decision_id: h.id('oco'), order_type: 'OCO', original_signal: 0, approved_size: '0.001', take_profit_price: '61000', stop_price: '59000', stop_limit_price: '58900' });
    await eventually('resting', async () => (await h.state(handle)).status === 'working');
    h.paper.setPrice('BTCUSDT', '61100');
    await h.result(handle);
    h.paper.setPrice('BTCUSDT', '60000');
    await save('oco-entry', handle.workflowId);
  });

  since('v3')('a limit whose quantity is amended in place, then cancelled', async () => {
    const handle = await h.start({ decision_id: h.id('amendqty'), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.002', timeout_ms: 60000 });
    await eventually('resting', async () => (await h.state(handle)).status === 'working');
    await handle.executeUpdate('amend', { args: [{ quantity: '0.001' }] });
    await handle.executeUpdate('cancel', { args: [{}] });
    await h.result(handle);
    await save('limit-amend-quantity', handle.workflowId);
  });

  since('v5')('a LIMIT entry sent with its protection as one OPOCO; take-profit fills', async () => {
    const handle = await h.start({ decision_id: h.id('protected'), order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', stop_loss: '57000', take_profit: '61000' });
    await eventually('resting', async () => (await h.state(handle)).status === 'working');
    h.paper.setPrice('BTCUSDT', '58999');
    await eventually('protected', async () => (await h.state(handle)).phase === 'bracket');
    h.paper.setPrice('BTCUSDT', '61001');
    await h.result(handle);
    h.paper.setPrice('BTCUSDT', '60000');
    await save('protected-entry', handle.workflowId);
  });

  // Last: it stops the worker's user data stream for good.
  since('v4')('a resting limit the stream cannot vouch for is polled, then times out', async () => {
    await h.svc.orderUpdates!.stop();
    const handle = await h.start({ decision_id: h.id('streamdown'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 6000 });
    await h.result(handle);
    await save('stream-gap', handle.workflowId);
    const history = fs.readFileSync(path.join(DIR, `${RELEASE}-stream-gap.json`), 'utf8');
    // Local activities (the coverage check) are markers with encoded payloads; the poll is an ordinary activity.
    if (!history.includes('"queryOrder"')) throw new Error('expected the coverage check to answer "poll", and a poll');
  });
});
