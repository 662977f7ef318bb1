/**
 * The production topology for real (issue 14): `startStack`, what `npm run stack` runs, with the
 * real Temporal server v1.32.1 on PostgreSQL, 2 worker processes and 2 bridge processes
 * (`src/operations/main.ts` each), Redis and the paper exchange, every one its own OS process.
 * Processes are SIGKILLed as a crash or the OOM killer would; after every test, every issue-11
 * invariant holds over every decision sent so far (one workflow and one order per decision,
 * nothing left live unmanaged, nothing executed beyond approval, one final report each).
 *
 * The server binary is built once per machine (src/operations/stack/temporal-binaries.ts); on a
 * fresh machine the first test waits for that build, printing progress.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { WorkflowExecutionDescription } from '@temporalio/client';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { writeWorkflowBundle } from '../../src/operations/build-workflow-bundle';
import { SERVICE_READY_LINE } from '../../src/operations/stack/topology';
import { ensureTemporalCli } from '../../src/operations/temporal-cli';
import { injectFault } from '../exchange/admin-http';
import {
  BASE_PRICE,
  DIP_PRICE,
  exchangeState,
  expectInvariants,
  ledger,
  ordersOfDecision,
  quantile,
  say,
  sendDecision,
  setPrice,
  startStackHarness,
  untilReported,
  workflowIdOf,
  type StackHarness,
} from './support';

jest.setTimeout(15 * 60_000);

let h: StackHarness;

beforeAll(async () => {
  h = await startStackHarness({ workers: 2, bridges: 2 });
}, 45 * 60_000);

afterAll(async () => {
  await h?.close();
}, 180_000);

/** Signals of `workflowId` carrying an exchange order update, with the identity that sent each. */
async function orderUpdateSignals(workflowId: string): Promise<string[]> {
  const history = await h.temporal.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'exchangeOrderUpdate')
    .map((e) => e.workflowExecutionSignaledEventAttributes?.identity ?? '');
}

/** pid of a Temporal client/worker identity (the SDK's default is `<pid>@<host>`). */
const pidOfIdentity = (identity: string): number => Number(identity.split('@')[0]);
/** pid in an order watcher id (`<host>-<pid>-<random>`, src/worker/order-update-router.ts). */
const pidOfWatcher = (watcherId: string): number => Number(watcherId.split('-').slice(-2)[0]);

async function watcherPids(ids: readonly string[]): Promise<Map<string, number>> {
  const rows = await h.pg.query<{ decision_id: string; watcher_id: string | null }>(
    `SELECT decision_id, watcher_id FROM orders WHERE decision_id = ANY($1) AND purpose = 'entry'`,
    [ids],
  );
  return new Map(rows.rows.filter((r) => r.watcher_id).map((r) => [r.decision_id, pidOfWatcher(r.watcher_id!)]));
}

/** Waits until every order of `ids` is claimed by a watcher; its owners' pids by decision id. */
async function untilClaimed(ids: readonly string[], timeoutMs = 90_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owners = await watcherPids(ids);
    if (owners.size === ids.length || Date.now() > deadline) return owners;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function untilResting(ids: readonly string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = (await exchangeState(h)).openOrders;
    const resting = ids.filter((id) => ordersOfDecision(open, id).length === 1);
    if (resting.length === ids.length) return;
    if (Date.now() > deadline) throw new Error(`only ${resting.length} of ${ids.length} LIMIT orders rest after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('trades run through 2 workers and 2 bridges; each worker keeps one user data stream, and only the owner of an order signals its workflow', async () => {
  await setPrice(h, BASE_PRICE);
  // One subscription per worker process for the one account, not one per order or per trade.
  const deadline = Date.now() + 60_000;
  while ((await exchangeState(h)).userDataStream.subscriptions < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  expect((await exchangeState(h)).userDataStream.subscriptions).toBe(2);

  const market = await Promise.all(Array.from({ length: 6 }, () => sendDecision(h, 'market', 'mkt')));
  const resting = await Promise.all(Array.from({ length: 6 }, () => sendDecision(h, 'resting', 'rest')));
  await untilReported(h, market, 120_000);
  await untilResting(resting);
  // Every resting order is claimed by one worker's router: the pid of a running worker.
  const owners = await untilClaimed(resting);
  const workerPids = h.stack.workers.map((w) => w.pid);
  expect(owners.size).toBe(resting.length);
  for (const pid of owners.values()) expect(workerPids).toContain(pid);

  await setPrice(h, DIP_PRICE);
  const reports = await untilReported(h, resting, 120_000);
  for (const id of resting) expect(reports.get(id)?.status).toBe('filled');
  await setPrice(h, BASE_PRICE);
  // Each of an order's fills is one executionReport, signalled once, by the order's owner only:
  // a second worker signalling too would double the count.
  const { trades, orders } = await ledger(h);
  for (const id of resting) {
    const [order] = ordersOfDecision(orders, id);
    const fills = trades.filter((t) => t.orderId === order!.orderId).length;
    const identities = await orderUpdateSignals(workflowIdOf(id));
    expect(identities.length).toBeGreaterThanOrEqual(1);
    expect(identities.length).toBeLessThanOrEqual(fills);
    expect(new Set(identities.map(pidOfIdentity))).toEqual(new Set([owners.get(id)]));
  }
  await expectInvariants(h);
  // Each process stayed up: nothing here restarted.
  for (const p of [...h.stack.workers, ...h.stack.bridges]) expect(p.lives).toBe(1);
});

test('SIGKILL one worker while LIMIT orders rest: the other worker adopts them and finishes every trade', async () => {
  const resting = await Promise.all(Array.from({ length: 6 }, () => sendDecision(h, 'resting', 'kill')));
  await untilResting(resting);
  const owners = await untilClaimed(resting);
  expect(owners.size).toBe(resting.length);
  // The worker owning the most of them is the one killed (and kept down: the survivor must do it all).
  const [victim, survivor] = [...h.stack.workers].sort(
    (a, b) => [...owners.values()].filter((p) => p === b.pid).length - [...owners.values()].filter((p) => p === a.pid).length,
  );
  const victimPid = victim!.pid!;
  const victimOwned = [...owners].filter(([, pid]) => pid === victimPid).map(([id]) => id);
  say(`SIGKILL ${victim!.name} (pid ${victimPid}), owner of ${victimOwned.length} of ${resting.length} resting orders`);
  expect(victimOwned.length).toBeGreaterThan(0);
  await victim!.kill('SIGKILL', { restart: false });

  // Its orders are adopted by the survivor once its lease lapses (30 s), then the fills reach them.
  const adoptDeadline = Date.now() + 120_000;
  for (;;) {
    const now = await watcherPids(victimOwned);
    if (victimOwned.every((id) => now.get(id) === survivor!.pid)) break;
    if (Date.now() > adoptDeadline) throw new Error(`the survivor did not adopt ${victimOwned.length} orders: ${JSON.stringify([...now])}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  await setPrice(h, DIP_PRICE);
  const reports = await untilReported(h, resting, 180_000);
  for (const id of resting) expect(reports.get(id)?.status).toBe('filled');
  await setPrice(h, BASE_PRICE);
  for (const id of victimOwned) {
    const identities = await orderUpdateSignals(workflowIdOf(id));
    expect(identities.length).toBeGreaterThanOrEqual(1);
    expect(new Set(identities.map(pidOfIdentity))).toEqual(new Set([survivor!.pid]));
  }
  await victim!.start();
  await expectInvariants(h);
});

test('SIGKILL the worker that is placing a MARKET order: the other worker settles it, one order, no duplicate', async () => {
  // The order lands at once (and fills); its answer is held back 20 s, so the worker is killed
  // with the outcome unknown to it. Its retry on the other worker must find the order, not send one.
  await injectFault(h.stack.exchange.baseUrl, { kind: 'delayedResponse', ms: 20_000, method: 'POST', path: '/api/v3/order', times: 1 });
  const id = await sendDecision(h, 'market', 'inflight');
  const handle = h.temporal.workflow.getHandle(workflowIdOf(id));
  let placing: WorkflowExecutionDescription['raw']['pendingActivities'] | undefined;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const open = (await ledger(h)).orders.filter((o) => o.clientOrderId.startsWith(`te-${id}-`));
    const description = await handle.describe().catch(() => undefined);
    placing = description?.raw.pendingActivities?.filter((a) => a.activityType?.name === 'placeOrder' && a.lastWorkerIdentity);
    if (open.length === 1 && placing && placing.length === 1) break;
    if (Date.now() > deadline) throw new Error('the MARKET order was not seen in flight');
    await new Promise((r) => setTimeout(r, 200));
  }
  const placerPid = pidOfIdentity(placing[0]!.lastWorkerIdentity!);
  const placer = h.stack.workers.find((w) => w.pid === placerPid);
  expect(placer).toBeDefined();
  say(`SIGKILL ${placer!.name} (pid ${placerPid}) while its placeOrder waits for the exchange's answer`);
  await placer!.kill('SIGKILL', { restart: false });

  const reports = await untilReported(h, [id], 180_000);
  expect(reports.get(id)?.status).toBe('filled');
  const orders = ordersOfDecision((await ledger(h)).orders, id);
  expect(orders).toHaveLength(1);
  // The attempt that finished ran on the other worker.
  const history = await handle.fetchHistory();
  const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!);
  expect(started.some((a) => pidOfIdentity(a.identity ?? '') !== placerPid && (a.attempt ?? 0) >= 2)).toBe(true);
  await placer!.start();
  await expectInvariants(h);
});

test('SIGKILL the Temporal server mid-load and start it again: every trade finishes (its state is in PostgreSQL)', async () => {
  const ids: string[] = [];
  const sending = (async () => {
    for (let i = 0; i < 20; i++) {
      ids.push(await sendDecision(h, i % 4 === 0 ? 'resting' : 'market', 'srv'));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  await new Promise((r) => setTimeout(r, 2_000));
  const pid = h.stack.temporal.pid;
  say(`SIGKILL the Temporal server (pid ${pid}) with trades in flight`);
  await h.stack.temporal.kill('SIGKILL', { restart: false });
  await sending; // decisions keep arriving while it is down: the bridges hold them
  await new Promise((r) => setTimeout(r, 10_000));
  await h.stack.temporal.start();
  say(`Temporal server back (pid ${h.stack.temporal.pid})`);
  const restingIds = ids.filter((_, i) => i % 4 === 0);
  await untilResting(restingIds, 180_000);
  await setPrice(h, DIP_PRICE);
  const reports = await untilReported(h, ids, 300_000);
  await setPrice(h, BASE_PRICE);
  for (const id of ids) expect(reports.get(id)?.status).toBe('filled');
  await expectInvariants(h);
});

test('a rolling restart of every worker under steady load loses nothing, each new life warms up before it is ready (latency figures are printed; bench/topology-bench.ts holds the p99 bound)', async () => {
  const ids: string[] = [];
  let sending = true;
  const load = (async () => {
    while (sending) {
      ids.push(await sendDecision(h, 'market', 'roll'));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const steadyUntil = Date.now() + 20_000;
  await new Promise((r) => setTimeout(r, 20_000));
  const rollStart = Date.now();
  for (const worker of h.stack.workers) {
    say(`rolling restart: ${worker.name} (pid ${worker.pid})`);
    await worker.stop(); // SIGTERM: running activities finish, then it exits
    await worker.start();
  }
  const rollEnd = Date.now();
  await new Promise((r) => setTimeout(r, 5_000));
  sending = false;
  await load;
  const reports = await untilReported(h, ids, 180_000);
  for (const id of ids) expect(reports.get(id)?.status).toBe('filled');
  const latency = (id: string) => reports.get(id)!.at - h.sentAt.get(id)!;
  const steady = ids.filter((id) => h.sentAt.get(id)! < steadyUntil).map(latency);
  const rolling = ids.filter((id) => h.sentAt.get(id)! >= rollStart && h.sentAt.get(id)! <= rollEnd).map(latency);
  say(
    `rolling restart: ${ids.length} trades; steady p50 ${quantile(steady, 0.5)} ms p99 ${quantile(steady, 0.99)} ms (${steady.length}); ` +
      `during the restart (${((rollEnd - rollStart) / 1000).toFixed(0)} s) p50 ${quantile(rolling, 0.5)} ms p99 ${quantile(rolling, 0.99)} ms (${rolling.length})`,
  );
  await expectInvariants(h);
  // src/worker/warm-up.ts: every life of every worker replayed the warm-up histories, all of them,
  // before it said it was ready (and so before its worker polled).
  for (const worker of h.stack.workers) {
    const lives = fs.readFileSync(worker.options.logFile, 'utf8').split(SERVICE_READY_LINE).slice(0, -1);
    expect(lives.length).toBeGreaterThanOrEqual(2);
    for (const life of lives) expect(life).toMatch(/"replayed":2,.*workflow runtime warmed up/);
  }
});

/** `temporal worker deployment <args>` against the stack's server, as the runbook (docs/deploys.md) says. */
async function deploymentCommand(args: string[]): Promise<string> {
  const cli = await ensureTemporalCli(say);
  const { stdout } = await promisify(execFile)(cli, ['worker', 'deployment', ...args, '--address', h.stack.temporalAddress, '--namespace', h.stack.namespace], {
    timeout: 60_000,
  });
  return stdout;
}

/** set-current-version, retried until the version's pollers have reached the server. */
async function setCurrentVersion(deploymentName: string, buildId: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await deploymentCommand(['set-current-version', '--deployment-name', deploymentName, '--build-id', buildId, '--yes']);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

async function versionOf(workflowId: string): Promise<{ buildId?: string; behavior?: string; memo?: Record<string, unknown>; failedTasks: number }> {
  const handle = h.temporal.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const info = d.raw.workflowExecutionInfo?.versioningInfo;
  const history = await handle.fetchHistory();
  return {
    buildId: info?.deploymentVersion?.buildId ?? undefined,
    behavior: info?.behavior === 1 ? 'PINNED' : info?.behavior === 2 ? 'AUTO_UPGRADE' : String(info?.behavior),
    memo: d.memo,
    failedTasks: (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).length,
  };
}

test('a deploy with Worker Versioning: trades resting on version A finish on A, new trades start on version B (a change A cannot replay)', async () => {
  const deployment = 'trade-exec';
  // From here on every worker is versioned: the unversioned ones (whose trades all ended) go.
  await Promise.all(h.stack.workers.map((w) => w.stop()));
  const versionA = h.stack.workflowBundle.buildId;
  const workerA = await h.stack.addService('worker', { name: 'worker-version-a', env: { TEMPORAL_WORKER_DEPLOYMENT: deployment } });
  await setCurrentVersion(deployment, versionA);
  const onA = await Promise.all(Array.from({ length: 4 }, () => sendDecision(h, 'resting', 'va')));
  await untilResting(onA);

  // Version B: a changed workflow, bundled as `npm run build:workflows` would, on its own worker.
  const bundleB = await writeWorkflowBundle({
    workflowsPath: path.join(__dirname, 'fixtures/workflows-version-b.ts'),
    outFile: path.join(h.stack.logDir, '..', 'workflow-bundle-b.js'),
  });
  expect(bundleB.buildId).not.toBe(versionA);
  const workerB = await h.stack.addService('worker', {
    name: 'worker-version-b',
    env: { TEMPORAL_WORKER_DEPLOYMENT: deployment, TEMPORAL_WORKFLOW_BUNDLE: bundleB.outFile },
  });
  await setCurrentVersion(deployment, bundleB.buildId);
  const described = await deploymentCommand(['describe', '--name', deployment]);
  say(`after the deploy:\n${described}`);
  expect(described).toContain(bundleB.buildId);

  const onB = await Promise.all(Array.from({ length: 4 }, () => sendDecision(h, 'market', 'vb')));
  await untilReported(h, onB, 120_000);
  // The price reaches A's resting orders only now, after B is current: A's workers finish them.
  await setPrice(h, DIP_PRICE);
  const reports = await untilReported(h, onA, 180_000);
  await setPrice(h, BASE_PRICE);
  for (const id of [...onA, ...onB]) expect(reports.get(id)?.status).toBe('filled');

  // B could not have run A's trades: replaying an A history with B's code is a determinism violation.
  const historyA = await h.temporal.workflow.getHandle(workflowIdOf(onA[0]!)).fetchHistory();
  await expect(Worker.runReplayHistory({ workflowBundle: { code: fs.readFileSync(bundleB.outFile, 'utf8') } }, historyA)).rejects.toThrow(
    DeterminismViolationError,
  );
  for (const id of onA) {
    const v = await versionOf(workflowIdOf(id));
    expect(v).toMatchObject({ buildId: versionA, behavior: 'PINNED', failedTasks: 0 });
    expect(v.memo?.deployedVersion).toBeUndefined();
  }
  for (const id of onB) {
    const v = await versionOf(workflowIdOf(id));
    expect(v).toMatchObject({ buildId: bundleB.buildId, behavior: 'PINNED', failedTasks: 0 });
    expect(v.memo?.deployedVersion).toBe('B');
  }
  // A has nothing left running: its workers may go (the runbook's last step).
  await workerA.stop();
  expect(workerB.ready).toBe(true);
  await expectInvariants(h);
});
