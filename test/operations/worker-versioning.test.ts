/**
 * Worker Versioning (docs/deploys.md), rehearsed on the suite's dev server: `npm start` workers
 * (main.ts, worker role) run a pre-built bundle as version A of a Worker Deployment; nothing runs
 * until `temporal worker deployment set-current-version` makes A current; trades then are PINNED to
 * A. A changed bundle runs as version B beside A; once B is current, new trades start on B while a
 * trade resting on A (even across continue-as-new) finishes on A, its order-queue activities
 * served by A's order worker.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeVersioningBehavior } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { ConfigError, loadConfig, versioningOf } from '../../src/config';
import { buildIdOf, writeWorkflowBundle } from '../../src/operations/build-workflow-bundle';
import type { TradeState } from '../../src/shared/trade';
import { readWorkflowBundle } from '../../src/worker/worker';
import { testServices } from '../support/services';
import { eventually, startTradeHarness, workerProcessEnv, type TradeHarness } from '../support/trade-harness';

const ROOT = path.resolve(__dirname, '../..');

describe('build ids and configuration (no server)', () => {
  const fakeBundle = (body: string, map: string) => `${body}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(map).toString('base64')}`;

  test('a build id is 16 hex chars of the code; other code, other id; the source map does not count', () => {
    const a = buildIdOf(fakeBundle('exports.x = 1;', '{"sources":["/work/main/workflows/index.ts"]}'));
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(buildIdOf(fakeBundle('exports.x = 2;', '{"sources":["/work/main/workflows/index.ts"]}'))).not.toBe(a);
    // The same code bundled in another checkout: only the map's absolute paths differ.
    expect(buildIdOf(fakeBundle('exports.x = 1;', '{"sources":["/srv/b/workflows/index.ts"]}'))).toBe(a);
  });

  test('versioning is off unless a deployment is named; PINNED by default; bad values name the variable', () => {
    expect(versioningOf(loadConfig({}))).toBeUndefined();
    expect(versioningOf(loadConfig({ TEMPORAL_WORKER_DEPLOYMENT: 'trade-exec' }))).toEqual({ deploymentName: 'trade-exec', defaultBehavior: 'PINNED' });
    expect(
      versioningOf(loadConfig({ TEMPORAL_WORKER_DEPLOYMENT: 'trade-exec', TEMPORAL_WORKER_BUILD_ID: 'v1.4.2', TEMPORAL_VERSIONING_BEHAVIOR: 'AUTO_UPGRADE' })),
    ).toEqual({ deploymentName: 'trade-exec', buildId: 'v1.4.2', defaultBehavior: 'AUTO_UPGRADE' });

    const problems = (env: NodeJS.ProcessEnv): string[] => {
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems({ TEMPORAL_WORKER_DEPLOYMENT: 'trade-exec', TEMPORAL_VERSIONING_BEHAVIOR: 'pinned' })).toEqual([
      'TEMPORAL_VERSIONING_BEHAVIOR: must be PINNED or AUTO_UPGRADE, got "pinned"',
    ]);
    expect(problems({ TEMPORAL_WORKER_DEPLOYMENT: 'trade.exec' })).toEqual([expect.stringMatching(/^TEMPORAL_WORKER_DEPLOYMENT: must be a deployment name/)]);
    expect(problems({ TEMPORAL_WORKER_DEPLOYMENT: 'trade-exec', TEMPORAL_WORKER_BUILD_ID: 'has space' })).toEqual([
      expect.stringMatching(/^TEMPORAL_WORKER_BUILD_ID: must be a build id/),
    ]);
    // Set without a deployment they would be ignored: refused instead.
    expect(problems({ TEMPORAL_WORKER_BUILD_ID: 'v1' })).toEqual([expect.stringMatching(/^TEMPORAL_WORKER_BUILD_ID: takes effect only with TEMPORAL_WORKER_DEPLOYMENT/)]);
    expect(problems({ TEMPORAL_VERSIONING_BEHAVIOR: 'PINNED' })).toEqual([expect.stringMatching(/^TEMPORAL_VERSIONING_BEHAVIOR: takes effect only/)]);
  });

  test('a file that is not a bundle is refused with its path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wv-notbundle-'));
    const file = path.join(dir, 'bundle.js');
    fs.writeFileSync(file, 'module.exports = {};\n');
    await expect(readWorkflowBundle(file)).rejects.toThrow(`${file} is not a workflow bundle`);
    await expect(readWorkflowBundle(path.join(dir, 'missing.js'))).rejects.toThrow(/cannot read workflow bundle .*missing\.js: ENOENT/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('a deploy from version A to version B on the dev server', () => {
  let h: TradeHarness;
  let tmp: string;
  const workers: ChildProcess[] = [];
  const run = Math.random().toString(36).slice(2, 8);
  // Unique per run: the dev server keeps deployments between test files.
  const deployment = `trade-exec-test-${run}`;
  let A: { outFile: string; buildId: string };
  let B: { outFile: string; buildId: string };

  /** `temporal ...` on the suite's server; resolves to stdout, rejects with stderr. */
  function temporal(args: string[]): Promise<string> {
    const env = testServices();
    return new Promise((resolve, reject) => {
      execFile(env.temporalCliPath, [...args, '--address', env.temporalAddress, '--namespace', env.namespace], { timeout: 30_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`temporal ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
  }

  interface VersionJson {
    deploymentName: string;
    BuildID: string;
    drainageInfo: { drainageStatus: string };
    taskQueuesInfos: Array<{ name: string; type: string }> | null;
  }
  interface DeploymentJson {
    name: string;
    routingConfig: { currentVersionBuildID: string; rampingVersionBuildID: string; rampingVersionPercentage: number };
    versionSummaries: Array<{ BuildID: string; drainageStatus: string }> | null;
  }
  const describeVersion = async (buildId: string): Promise<VersionJson> =>
    JSON.parse(await temporal(['worker', 'deployment', 'describe-version', '--deployment-name', deployment, '--build-id', buildId, '--output', 'json'])) as VersionJson;
  const describeDeployment = async (): Promise<DeploymentJson> =>
    JSON.parse(await temporal(['worker', 'deployment', 'describe', '--name', deployment, '--output', 'json'])) as DeploymentJson;

  /** Until the version's workers poll both queues: the server does not refuse a version that misses one (docs/deploys.md), so we check. */
  async function waitForPollers(buildId: string): Promise<VersionJson> {
    return eventually(
      `version ${buildId} polling both task queues`,
      async () => {
        const v = await describeVersion(buildId).catch(() => undefined);
        const queues = new Set((v?.taskQueuesInfos ?? []).map((q) => `${q.name}/${q.type}`));
        return queues.has(`${h.taskQueue}/workflow`) && queues.has(`${h.taskQueue}-orders/activity`) ? v : undefined;
      },
      60_000,
    );
  }

  /** `npm start`'s entry point with only the worker role, as one version's worker process. */
  async function startVersionedWorker(bundleFile: string): Promise<{ child: ChildProcess; banner: string; output: () => string }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/operations/main.ts'], {
      cwd: ROOT,
      // No user data stream: fills are polled, so a resting trade's history grows and it continues as new.
      env: workerProcessEnv(h, {
        TEMPORAL_WORKER_DEPLOYMENT: deployment,
        TEMPORAL_WORKFLOW_BUNDLE: bundleFile,
        LOG_LEVEL: 'info',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workers.push(child);
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    await eventually(
      'the worker process to be ready',
      () => {
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}:\n${output}`);
        return output.includes('Press Ctrl-C to stop.');
      },
      90_000,
    );
    return { child, banner: output, output: () => output };
  }

  async function stopWorker(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** The workflow's versioning info as the server describes it (latest run). */
  async function versioningOfRun(handle: WorkflowHandle, runId?: string): Promise<{ behavior: string | undefined; deploymentName?: string; buildId?: string }> {
    const d = await h.svc.temporal.workflow.getHandle(handle.workflowId, runId).describe();
    const info = d.raw.workflowExecutionInfo?.versioningInfo;
    return {
      behavior: decodeVersioningBehavior(info?.behavior),
      ...(info?.deploymentVersion?.deploymentName ? { deploymentName: info.deploymentVersion.deploymentName } : {}),
      ...(info?.deploymentVersion?.buildId ? { buildId: info.deploymentVersion.buildId } : {}),
    };
  }

  /** Identities of the workers that started `activityType` in the run's history. */
  async function activityWorkers(handle: WorkflowHandle, activityType: string): Promise<Array<{ taskQueue: string; identity: string }>> {
    const history = await h.svc.temporal.workflow.getHandle(handle.workflowId).fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    const out: Array<{ taskQueue: string; identity: string }> = [];
    for (const e of events) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s && s.activityType?.name === activityType) scheduled.set(String(e.eventId), s.taskQueue?.name ?? '');
      const st = e.activityTaskStartedEventAttributes;
      if (st && scheduled.has(String(st.scheduledEventId))) out.push({ taskQueue: scheduled.get(String(st.scheduledEventId))!, identity: st.identity ?? '' });
    }
    return out;
  }

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wv-'));
    // Version B: today's workflows plus one new workflow type, bundled from outside workflows/
    // as a deploy rehearsal would. Its node_modules link lets webpack resolve the SDK from there.
    const changed = path.join(tmp, 'changed');
    fs.mkdirSync(changed);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(changed, 'node_modules'));
    fs.writeFileSync(
      path.join(changed, 'index.ts'),
      `export * from ${JSON.stringify(path.join(ROOT, 'workflows'))};\nexport async function DeployRehearsalVersion(): Promise<string> {\n  return 'B';\n}\n`,
    );
    [A, B] = await Promise.all([
      writeWorkflowBundle({ outFile: path.join(tmp, 'a', 'workflow-bundle.js') }),
      writeWorkflowBundle({ workflowsPath: path.join(changed, 'index.ts'), outFile: path.join(tmp, 'b', 'workflow-bundle.js') }),
    ]);
    h = await startTradeHarness({ name: 'versioning', worker: false, push: false });
    h.paper.setPrice('BTCUSDT', '60000');
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) await stopWorker(w);
    await h?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('A runs only once current, pins its trades; B takes new trades while A finishes its own', async () => {
    // The build id is the bundle's code hash: what build:workflows printed, what the file hashes to.
    expect(A.buildId).toBe(buildIdOf(fs.readFileSync(A.outFile, 'utf8')));
    expect(B.buildId).toBe(buildIdOf(fs.readFileSync(B.outFile, 'utf8')));
    expect(B.buildId).not.toBe(A.buildId);

    const a = await startVersionedWorker(A.outFile);
    expect(a.banner).toContain(`  Worker version:  ${deployment}:${A.buildId} (PINNED)`);
    // The first deploy: the worker says that nothing runs until a version is made current.
    await eventually('A to warn that no version is current', () => a.output().includes(`no version of deployment ${deployment} is current yet`));
    const versionA = await waitForPollers(A.buildId);
    expect(versionA).toMatchObject({ deploymentName: deployment, BuildID: A.buildId });

    // No version is current yet: a trade waits, its first workflow task untaken.
    const t0 = await h.start({ decision_id: h.id('t0') });
    await new Promise((r) => setTimeout(r, 3000));
    expect((await t0.describe()).historyLength).toBe(2);

    await temporal(['worker', 'deployment', 'set-current-version', '--deployment-name', deployment, '--build-id', A.buildId, '--yes']);
    expect((await describeDeployment()).routingConfig.currentVersionBuildID).toBe(A.buildId);
    expect(((await h.result(t0)) as TradeState).status).toBe('filled');
    expect(await versioningOfRun(t0)).toEqual({ behavior: 'PINNED', deploymentName: deployment, buildId: A.buildId });

    // A trade resting on A, whose history is cut short so it continues as new while B is current.
    const t1 = await h.start({ decision_id: h.id('t1'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 600_000 }, 30_000, { historyEventLimit: 25 });
    await eventually('t1 resting on the exchange', () => h.paper.orders('BTCUSDT').some((o) => o.status === 'NEW'));

    const b = await startVersionedWorker(B.outFile);
    expect(b.banner).toContain(`  Worker version:  ${deployment}:${B.buildId} (PINNED)`);
    await eventually('B to warn that it is not current', () => b.output().includes(`worker version ${B.buildId} is not current`));
    await waitForPollers(B.buildId);
    // A ramp first (routes that share of new trades to B), then the cut-over.
    await temporal(['worker', 'deployment', 'set-ramping-version', '--deployment-name', deployment, '--build-id', B.buildId, '--percentage', '25', '--yes']);
    expect((await describeDeployment()).routingConfig).toMatchObject({ currentVersionBuildID: A.buildId, rampingVersionBuildID: B.buildId, rampingVersionPercentage: 25 });
    await temporal(['worker', 'deployment', 'set-current-version', '--deployment-name', deployment, '--build-id', B.buildId, '--yes']);
    expect((await describeDeployment()).routingConfig).toMatchObject({ currentVersionBuildID: B.buildId, rampingVersionBuildID: '' });
    const t1RunAtCutOver = (await t1.describe()).runId;

    // New trades start on B (and B's new workflow type exists there).
    const t2 = await h.start({ decision_id: h.id('t2') });
    expect(((await h.result(t2)) as TradeState).status).toBe('filled');
    expect(await versioningOfRun(t2)).toEqual({ behavior: 'PINNED', deploymentName: deployment, buildId: B.buildId });
    expect(await activityWorkers(t2, 'placeOrder')).toEqual([{ taskQueue: `${h.taskQueue}-orders`, identity: expect.stringMatching(new RegExp(`^${b.child.pid}@`)) }]);
    const probe = await h.svc.temporal.workflow.execute('DeployRehearsalVersion', { taskQueue: h.taskQueue, workflowId: h.id('probe') });
    expect(probe).toBe('B');

    // t1 is still A's: across a continue-as-new after the cut-over too, and A drains while it rests.
    await eventually(
      't1 to continue as new after the cut-over',
      async () => (await h.svc.temporal.workflow.getHandle(t1.workflowId, t1RunAtCutOver).describe()).status.name === 'CONTINUED_AS_NEW',
      90_000,
    );
    expect(await versioningOfRun(t1)).toEqual({ behavior: 'PINNED', deploymentName: deployment, buildId: A.buildId });
    expect((await describeVersion(A.buildId)).drainageInfo.drainageStatus).toBe('draining');

    // Cancelling it runs cancelOrder on the order queue: routed to A's order worker, not B's.
    await t1.executeUpdate('cancel', { args: [{ reason: 'deploy rehearsal' }] });
    expect(((await t1.result()) as TradeState).status).toBe('cancelled');
    expect(await activityWorkers(t1, 'cancelOrder')).toEqual([{ taskQueue: `${h.taskQueue}-orders`, identity: expect.stringMatching(new RegExp(`^${a.child.pid}@`)) }]);
    expect(await versioningOfRun(t1)).toEqual({ behavior: 'PINNED', deploymentName: deployment, buildId: A.buildId });

    const summary = await describeDeployment();
    expect(new Set((summary.versionSummaries ?? []).map((v) => v.BuildID))).toEqual(new Set([A.buildId, B.buildId]));
  }, 420_000);
});
