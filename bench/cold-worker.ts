/**
 * Experiment (not part of the tests): what a trade taken by a freshly started worker costs.
 *
 * One worker on the real Temporal server (test/stack/support.ts), 20 warm-up trades, then a
 * steady 3 decisions/s; 10 s in, a second worker is added. For every trade sent from 2 s before
 * the new worker was up to 6 s after, it prints which worker took the first workflow task and how
 * long each workflow task ran (started → completed, from the history). Run:
 *   npx tsx bench/cold-worker.ts
 * What it showed is in the README (Production → Sizing): the first workflow task on each of a
 * new worker's workflow threads runs 200–400 ms against ~30 ms, while its local activities take
 * ~35 ms of that: the cost is the workflow sandbox's first activation, not I/O.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { sendDecision, startStackHarness, say, untilReported, workflowIdOf } from '../test/stack/support';

const RATE = 3;

async function main(): Promise<void> {
  const h = await startStackHarness({
    workers: 1,
    bridges: 1,
    ui: false,
    paperEnv: { PAPER_PRICE_STEP_MS: '0', PAPER_RATE_LIMITS: 'raised' },
    serviceEnv: { RISK_MAX_ORDERS_PER_MINUTE: '0' },
  });
  try {
    const warm = await Promise.all(Array.from({ length: 20 }, () => sendDecision(h, 'market', 'w')));
    await untilReported(h, warm, 120_000);
    const ids: string[] = [];
    const loadStartedAt = Date.now();
    let upAt = 0;
    const adding = (async () => {
      await new Promise((r) => setTimeout(r, 10_000));
      const addedAt = Date.now();
      const worker = await h.stack.addService('worker');
      upAt = Date.now();
      say(`${worker.name} up after ${upAt - addedAt} ms`);
    })();
    while (Date.now() - loadStartedAt < 25_000) {
      ids.push(await sendDecision(h, 'market', 's'));
      await new Promise((r) => setTimeout(r, 1000 / RATE));
    }
    await adding;
    const reports = await untilReported(h, ids, 120_000);
    for (const id of ids) {
      const sentAfterUp = h.sentAt.get(id)! - upAt;
      if (sentAfterUp < -2000 || sentAfterUp > 6000) continue;
      const events = (await h.temporal.workflow.getHandle(workflowIdOf(id)).fetchHistory()).events ?? [];
      const started = events.filter((e) => e.workflowTaskStartedEventAttributes);
      const completed = events.filter((e) => e.workflowTaskCompletedEventAttributes);
      const taskMs = completed.map((e, i) => tsToMs(e.eventTime) - tsToMs(started[i]!.eventTime));
      say(
        `sent ${sentAfterUp} ms after the new worker was up: ${reports.get(id)!.at - h.sentAt.get(id)!} ms; ` +
          `first task on ${started[0]?.workflowTaskStartedEventAttributes?.identity}; workflow tasks ${taskMs.join(', ')} ms`,
      );
    }
  } finally {
    await h.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
