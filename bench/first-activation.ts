/**
 * Experiment: the cost of a workflow thread's first activations, without a server.
 *
 * Replays saved histories through replay workers that run workflows in worker threads, as a
 * real worker does (debugMode off, one thread), all sharing one thread pool. With `warm`, the
 * pool first replays the warm-up histories; then it times each replay of the measured history.
 *   npx tsx bench/first-activation.ts <history.json> <times> [warm-up.json...]
 *
 * What it showed (commit e0ae49d, load average 1.4-3 with two other jobs on the 2 cores):
 * the first replay of v4-market on a fresh thread took 438-553 ms and the later ones 65-132 ms;
 * after the pool had replayed v4-limit-timeout first, the first v4-market replay took 242-334 ms.
 * So warming a worker's threads with other trades' histories takes away about half of the cold
 * cost, not all of it (the paths a history does not take stay cold). It was not put into the
 * worker: it needs the SDK's protected createWorkflowCreator, and 2 of 9 runs of this script
 * hung in runReplayHistories with threads (debugMode off) and never finished.
 * V8 flags change nothing measurable (commit 364a2f6, load average ~1.5-2, two runs each, first
 * replay): none 614/744 ms, --no-lazy 670/460, --always-sparkplug 523/397, --max-lazy 432/596.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowCreator } from '@temporalio/worker/lib/workflow/interface';
import { bundleWorkflows } from '../src/worker/worker';

class SharedPoolWorker extends Worker {
  static pool?: WorkflowCreator;
  protected static override async createWorkflowCreator(...args: Parameters<typeof Worker['createWorkflowCreator']>): Promise<WorkflowCreator> {
    const pool = (SharedPoolWorker.pool ??= await super.createWorkflowCreator(...args));
    return { createWorkflow: (o) => pool.createWorkflow(o), destroy: async () => undefined };
  }
}

async function replayAll(options: ReplayWorkerOptions, files: string[], times: number): Promise<number[]> {
  const took: number[] = [];
  let last = 0;
  const histories = (async function* () {
    for (let i = 0; i < times; i++) {
      for (const file of files) {
        last = Date.now();
        yield { workflowId: `${path.basename(file, '.json')}-${i}`, history: historyFromJSON(JSON.parse(fs.readFileSync(file, 'utf8'))) };
      }
    }
  })();
  for await (const result of SharedPoolWorker.runReplayHistories(options, histories)) {
    if (result.error) throw result.error;
    took.push(Date.now() - last);
  }
  return took;
}

async function main(): Promise<void> {
  const [file = 'test/replay/histories/v4-market.json', timesText = '6', ...warmUp] = process.argv.slice(2);
  const workflowBundle = await bundleWorkflows();
  // debugMode is left out of ReplayWorkerOptions' type, but replay honours it: off runs in threads.
  const options = { workflowBundle, debugMode: false, workflowThreadPoolSize: 1 } as ReplayWorkerOptions;
  if (warmUp.length > 0) console.log(`warm-up: ${(await replayAll(options, warmUp, 1)).join(' ')} ms`);
  console.log(`${path.basename(file)}: ${(await replayAll(options, [file], Number(timesText))).join(' ')} ms`);
}
main().then(() => process.exit(0)).catch((err) => {
  console.error(err);
  process.exit(1);
});
