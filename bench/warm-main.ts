/**
 * Experiment (not part of the tests): what a worker process's one-time costs add to its first
 * workflow activations, and how much a warm-up replay takes away (src/worker/warm-up.ts).
 *
 * Times four threaded replays of v4-market, each through a fresh replay worker (its own
 * workflow thread, as a real worker's), in a process that has (`threaded`, `main`) or has not
 * (`none`) first replayed v4-limit-timeout twice (in threads, or in this thread):
 *   npx tsx bench/warm-main.ts none|threaded|main
 * Commit c28e1ad, load average ~1, three runs each, first replay then the next three:
 *   none 179/169/179 ms, then 21-44; threaded 96/88/76 ms; main 97/91/78 ms.
 * A CPU profile of `none` (node --cpu-prof) put the difference on the main thread: protobufjs
 * generating encoders and decoders on first use (Codegen, merge, _resolveFeatures), paid once
 * per process; the workflow thread's own first activation is the ~45 ms that stays.
 */
import fs from 'node:fs';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflows } from '../src/worker/worker';

const load = (f: string) => historyFromJSON(JSON.parse(fs.readFileSync(f, 'utf8')));
async function timed(options: ReplayWorkerOptions, file: string, times: number): Promise<number[]> {
  const out: number[] = [];
  let last = 0;
  const gen = (async function* () {
    for (let i = 0; i < times; i++) {
      last = Date.now();
      yield { workflowId: `w-${i}`, history: load(file) };
    }
  })();
  for await (const r of Worker.runReplayHistories(options, gen)) {
    if (r.error) throw r.error;
    out.push(Date.now() - last);
  }
  return out;
}
async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'none';
  const workflowBundle = await bundleWorkflows();
  if (mode === 'main' || mode === 'threaded') {
    const t = Date.now();
    await timed({ workflowBundle, debugMode: mode === 'main' } as ReplayWorkerOptions, 'test/replay/histories/v4-limit-timeout.json', 2);
    console.log(`main-thread warm-up ${Date.now() - t} ms`);
  }
  console.log(mode, (await timed({ workflowBundle, debugMode: false, workflowThreadPoolSize: 1 } as ReplayWorkerOptions, 'test/replay/histories/v4-market.json', 4)).join(' '));
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
