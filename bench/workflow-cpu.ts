/**
 * Workflow-thread CPU per workflow, without a server: replays a saved MARKET trade history N
 * times (distinct workflow ids, so each is a new workflow whose bundle modules are initialised
 * in the reused V8 context) and divides this process's CPU time by N. Issue 12: what a smaller
 * workflow bundle buys per trade, measured the same way before and after.
 *
 *   npx tsx bench/workflow-cpu.ts [N=500] [history=test/replay/histories/v2-market.json]
 *
 * Prints one JSON line: bundle bytes (code and inline source map), N, CPU ms per workflow
 * (user+system, after a warm-up round), wall ms, 1-minute load average.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { bundleWorkflows } from '../src/worker/worker';

async function replayAll(workflowBundle: Awaited<ReturnType<typeof bundleWorkflows>>, history: ReturnType<typeof historyFromJSON>, n: number, tag: string): Promise<void> {
  const histories = Array.from({ length: n }, (_, i) => ({ workflowId: `${tag}-${i}`, history }));
  for await (const r of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (r.error) throw new Error(`${r.workflowId}: ${r.error.message}`);
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 500);
  const file = path.resolve(process.argv[3] ?? 'test/replay/histories/v2-market.json');
  const workflowBundle = await bundleWorkflows();
  const mapAt = workflowBundle.code.indexOf('//# sourceMappingURL=');
  const history = historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
  await replayAll(workflowBundle, history, 50, 'warm');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await replayAll(workflowBundle, history, n, 'run');
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      bundleBytes: workflowBundle.code.length,
      bundleCodeBytes: mapAt < 0 ? workflowBundle.code.length : mapAt,
      history: path.basename(file),
      n,
      cpuMsPerWorkflow: Math.round(((cpu.user + cpu.system) / 1000 / n) * 100) / 100,
      wallMsPerWorkflow: Math.round((wall / n) * 100) / 100,
      load1m: os.loadavg()[0],
    })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`workflow-cpu: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
