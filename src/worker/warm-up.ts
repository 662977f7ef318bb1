/**
 * A starting worker's warm-up: before it polls, the process replays a few saved trade histories
 * (warm-up-histories/, copies of test/replay/histories/v4-market and v4-limit-timeout, which the
 * replay test keeps replaying against today's code).
 *
 * Why: a fresh worker process ran its first trades 2-3x slower than later ones, which is what put
 * a rolling restart's p99 above its bound (README, Production → Sizing). A CPU profile of a
 * first replay showed most of that cost on the main thread and paid once per process:
 * protobufjs generates each message type's encoder and decoder the first time it is used, and
 * the SDK's activation path is compiled on its first call. A replay takes the same path, so
 * afterwards the first real trade does not pay it. `npx tsx bench/warm-main.ts none|threaded`
 * (commit c28e1ad, load average ~1): a fresh process's first replay 169-179 ms, 76-96 ms after
 * this warm-up, 21-44 ms once warm. What stays is the worker's own workflow thread's first use.
 *
 * The replay runs in worker threads of its own, as a real worker's workflows do (debugMode would
 * run it in this thread and leave the SDK's promise hook and Error.prepareStackTrace installed
 * here, over every activity's promises and stack traces). Replay needs no server and runs no
 * activity: it sends nothing anywhere. It is an optimisation only: a history that fails to replay
 * or a warm-up longer than `timeoutMs` (the SDK's threaded replay once hung in an experiment,
 * bench/first-activation.ts) is logged, and the worker starts as it would have without it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import type { Logger } from '../logging';
import type { WorkflowCode } from './worker';

export const WARM_UP_HISTORIES_DIR = path.join(__dirname, 'warm-up-histories');

export interface WarmUpResult {
  replayed: number;
  failed: string[];
  ms: number;
  timedOut: boolean;
}

export async function warmUpWorkflowRuntime(o: { code: WorkflowCode; logger: Logger; dir?: string; timeoutMs?: number }): Promise<WarmUpResult> {
  const startedAt = Date.now();
  const dir = o.dir ?? WARM_UP_HISTORIES_DIR;
  // Counted here and copied into the result when the race settles: a replay still running after
  // the timeout must not change what was already returned and logged.
  let replayed = 0;
  const failed: string[] = [];
  const replay = (async () => {
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    const histories = await Promise.all(
      files.map(async (f) => ({ workflowId: `warm-up-${path.basename(f, '.json')}`, history: historyFromJSON(JSON.parse(await fs.readFile(path.join(dir, f), 'utf8'))) })),
    );
    // debugMode is left out of ReplayWorkerOptions' type, but replay honours it: off runs in threads.
    const options = { workflowBundle: { code: o.code.code }, debugMode: false } as ReplayWorkerOptions;
    for await (const history of Worker.runReplayHistories(options, histories)) {
      if (history.error) failed.push(`${history.workflowId}: ${history.error.message}`);
      else replayed += 1;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), o.timeoutMs ?? 20_000);
  });
  let timedOut = false;
  try {
    if ((await Promise.race([replay, timeout])) === 'timeout') {
      timedOut = true;
      replay.then(
        () => o.logger.info({ replayed, ms: Date.now() - startedAt }, 'workflow warm-up finished after its timeout'),
        () => undefined,
      );
    }
  } catch (err) {
    failed.push(err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
  }
  const result: WarmUpResult = { replayed, failed: [...failed], ms: Date.now() - startedAt, timedOut };
  if (result.failed.length > 0 || result.timedOut) {
    o.logger.warn({ ...result }, 'workflow warm-up incomplete: the worker starts anyway, its first trades run cold');
  } else {
    o.logger.info({ replayed: result.replayed, ms: result.ms }, 'workflow runtime warmed up');
  }
  return result;
}
