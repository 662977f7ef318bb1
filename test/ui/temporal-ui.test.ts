/**
 * The Temporal UI as an operator uses it, in headless Chromium (Debian's, driven by
 * playwright-core): with the service running and LIMIT orders resting far from the market,
 * find the in-flight BTCUSDT trades by their search attributes, open one, read its state with
 * the getState query, and cancel it with the UI's own "Request Cancellation". The order must
 * then be cancelled on the paper exchange.
 *
 * Screenshots: test-artifacts/ui-*.png (gitignored). The dev server's UI allows writes by
 * default (temporal CLI v1.5.1 sets no DisableWriteActions; there is no flag for it), and the
 * test checks the cancel button is enabled.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pushDecision } from '../support/streams';
import { testServices } from '../support/services';
import { CHROMIUM_FLAGS, locateChromium } from './chromium';
import { restingBuyPrice, startTestStack, waitForState, type TestStack } from './helpers';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const browserLookup = locateChromium();
if (!browserLookup.path) process.stderr.write(`[ui test] SKIPPED: ${browserLookup.reason}\n`);
const describeWithBrowser = browserLookup.path ? describe : describe.skip;

describeWithBrowser(`Temporal UI (${browserLookup.path ?? `skipped: ${browserLookup.reason}`})`, () => {
  let stack: TestStack;
  let browser: Browser;
  let page: Page;
  const ids: string[] = [];
  let ethId = '';

  const shot = async (name: string) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `ui-${name}.png`) });
  };

  beforeAll(async () => {
    stack = await startTestStack('ui', { redisDb: 12 });
    browser = await chromium.launch({ executablePath: browserLookup.path!, args: CHROMIUM_FLAGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(30_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    // Leave nothing running in the shared dev server.
    for (const id of [...ids, ethId].filter(Boolean)) {
      await stack?.svc.temporal.workflow.getHandle(`trade-${id}`).terminate('ui test done').catch(() => undefined);
    }
    await stack?.stop();
  });

  test('list by search attributes, open a trade, query its state, Request Cancellation → cancelled on the exchange', async () => {
    // Three BTCUSDT BUY orders resting at half the market price, and one ETHUSDT that the filter must leave out.
    const price = restingBuyPrice(stack.paper);
    for (const x of ['a', 'b', 'c']) ids.push(`ui-${stack.run}-${x}`);
    ethId = `ui-${stack.run}-eth`;
    const decision = (id: string, symbol: string, limit: string) => ({
      decision_id: id,
      timestamp: Date.now(),
      symbol,
      decision: 'approve',
      original_signal: 2,
      approved_size: symbol === 'BTCUSDT' ? '0.001' : '0.01',
      reasons: ['ui test'],
      order_type: 'LIMIT',
      limit_price: limit,
    });
    for (const id of ids) await pushDecision(stack.redis, decision(id, 'BTCUSDT', price));
    await pushDecision(stack.redis, decision(ethId, 'ETHUSDT', restingBuyPrice(stack.paper, 'ETHUSDT')));
    const states = await Promise.all([...ids, ethId].map((id) => waitForState(stack.svc, `trade-${id}`, (s) => s.status === 'working')));
    const target = `trade-${ids[0]}`;
    const targetOrder = states[0]!.orders[0]!.intent.clientOrderId;
    expect(stack.paper.findOrder('BTCUSDT', targetOrder)?.status).toBe('NEW');

    // 1. The workflow list, filtered by the search attributes in the URL (as the UI's filter bar writes it).
    const ui = testServices().temporalUiUrl;
    const query = `TradeSymbol="BTCUSDT" AND ExecutionStatus="Running" AND TaskQueue="${stack.taskQueue}"`;
    await page.goto(`${ui}/namespaces/${stack.svc.temporal.options.namespace}/workflows?query=${encodeURIComponent(query)}`);
    for (const id of ids) await page.getByRole('link', { name: `trade-${id}`, exact: true }).waitFor();
    await expect(page.getByRole('link', { name: `trade-${ethId}`, exact: true }).count()).resolves.toBe(0);
    await expect(page.getByText('3 Running').count()).resolves.toBeGreaterThan(0);
    await shot('1-list');

    // 2. Open one trade.
    await page.getByRole('link', { name: target, exact: true }).click();
    await page.waitForURL(new RegExp(`/workflows/${target}/`));
    await page.getByRole('heading', { name: target }).or(page.getByText(target).first()).first().waitFor();
    await shot('2-workflow');

    // 3. Its live state: the getState query.
    await page.locator('#queries-tab').click();
    await page.getByRole('button', { name: 'Run Query' }).click();
    await page.getByText(targetOrder).first().waitFor();
    const queryText = await page.locator('main').innerText();
    expect(queryText).toContain('"status": "working"');
    expect(queryText).toContain(price);
    await shot('3-query');

    // 4. Request Cancellation, confirmed in the UI's dialog.
    const cancelButton = page.getByRole('button', { name: 'Request Cancellation' }).filter({ visible: true });
    await expect(cancelButton.isEnabled()).resolves.toBe(true);
    await cancelButton.click();
    const dialog = page.locator('#cancel-confirmation-modal[open]');
    await dialog.waitFor({ state: 'visible' });
    await shot('4-confirm');
    await dialog.locator('button[type=submit]').click();

    // 5. The workflow cancels its order on the exchange and ends cancelled.
    const handle = stack.svc.temporal.workflow.getHandle(target);
    const deadline = Date.now() + 60_000;
    while ((await handle.describe()).status.name === 'RUNNING' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(stack.paper.findOrder('BTCUSDT', targetOrder)?.status).toBe('CANCELED');
    const final = await waitForState(stack.svc, target, (s) => s.status === 'cancelled', 10_000);
    expect(final.orders[0]!.state).toBe('cancelled');
    // The other trades are untouched.
    for (const s of states.slice(1, 3)) expect(stack.paper.findOrder('BTCUSDT', s.orders[0]!.intent.clientOrderId)?.status).toBe('NEW');

    await page.reload();
    await page.getByText('Canceled').first().waitFor();
    await shot('5-cancelled');
  }, 150_000);
});
