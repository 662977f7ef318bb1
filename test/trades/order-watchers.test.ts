/**
 * Two workers on one task queue, each with its own user data stream: every event reaches both,
 * but only the worker that watches an order (the one its workflow runs on) signals it; when a
 * worker stops, the other adopts its resting orders and finishes their trades.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { RunningService } from '../../src/operations/service';
import { eventually, startTradeHarness, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;
let other: RunningService;

beforeAll(async () => {
  h = await startTradeHarness({ name: 'watchers' });
  h.paper.setPrice('BTCUSDT', '60000');
  other = await h.startAnotherWorker();
  await eventually('both workers to subscribe', () => h.paper.ws.stats().subscriptions >= 2);
}, 120_000);
afterAll(() => h?.stop());
beforeEach(() => h.paper.setPrice('BTCUSDT', '60000'));

const routers = () => [h.svc.orderUpdates!, other.orderUpdates!];
const routedInAll = () => routers().reduce((n, r) => n + r.stats.routed, 0);

async function watcherOf(handle: WorkflowHandle): Promise<string | null> {
  const { rows } = await h.pg.query<{ watcher_id: string | null }>('SELECT watcher_id FROM orders WHERE workflow_id = $1', [handle.workflowId]);
  return rows[0]?.watcher_id ?? null;
}

async function restingAndClaimed(handles: WorkflowHandle[]): Promise<Map<WorkflowHandle, string>> {
  const owners = new Map<WorkflowHandle, string>();
  for (const handle of handles) {
    owners.set(handle, await eventually(`${handle.workflowId} to rest and be claimed`, async () => ((await h.state(handle)).status === 'working' ? ((await watcherOf(handle)) ?? undefined) : undefined)));
  }
  return owners;
}

test('each worker keeps one stream for the account, and each fill is signalled once, by the order\'s watcher', async () => {
  expect(h.paper.ws.stats().subscriptions).toBe(2);
  const handles = await Promise.all([1, 2, 3, 4].map((n) => h.start({ decision_id: h.id(`once-${n}`), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 })));
  const owners = await restingAndClaimed(handles);
  expect(new Set(owners.values()).size).toBeGreaterThanOrEqual(1);
  for (const owner of owners.values()) expect(routers().map((r) => r.watcherId)).toContain(owner);
  const before = routedInAll();
  h.paper.setPrice('BTCUSDT', '58900');
  for (const handle of handles) expect((await h.result(handle)).status).toBe('filled');
  // One FILLED event per order; a second worker signalling it too would make this 8.
  expect(routedInAll() - before).toBe(handles.length);
}, 90_000);

test('when a worker stops, the other adopts its resting orders and finishes their trades', async () => {
  // Trades land on either worker; start them until the one that will stop watches at least one.
  const handles: WorkflowHandle[] = [];
  let owners = new Map<WorkflowHandle, string>();
  for (let n = 0; n < 12 && ![...owners.values()].includes(other.orderUpdates!.watcherId); n++) {
    handles.push(await h.start({ decision_id: h.id(`adopt-${n}`), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 180_000 }));
    owners = await restingAndClaimed(handles);
  }
  const leaving = [...owners.entries()].filter(([, owner]) => owner === other.orderUpdates!.watcherId).map(([handle]) => handle);
  expect(leaving.length).toBeGreaterThan(0);
  const stayer = h.svc.orderUpdates!;
  const adoptedBefore = stayer.stats.adopted;
  await other.stop();
  await eventually('the staying worker to adopt the orders', () => stayer.stats.adopted - adoptedBefore >= leaving.length, 60_000);
  for (const handle of leaving) expect(await watcherOf(handle)).toBe(stayer.watcherId);
  h.paper.setPrice('BTCUSDT', '58900');
  for (const handle of handles) {
    const final = await h.result(handle);
    expect(final.status).toBe('filled');
    expect(final.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
  }
}, 180_000);
