/**
 * `health`: can this deployment work right now? Temporal (namespace), and whichever of Postgres,
 * Redis and the exchange are configured; with --pollers also that some worker polls the task
 * queue. docker-compose.yml uses it as the worker's and bridge's health check.
 */
import type { CliContext } from './context';
import { CliError, describeError } from './errors';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

async function check(name: string, fn: () => Promise<string>): Promise<Check> {
  try {
    return { name, ok: true, detail: await fn() };
  } catch (err) {
    return { name, ok: false, detail: describeError(err) };
  }
}

export async function health(ctx: CliContext, o: { pollers: boolean }): Promise<void> {
  const cfg = ctx.cfg();
  const checks: Array<Promise<Check>> = [
    check('temporal', async () => {
      const client = await ctx.temporal();
      await client.workflowService.describeNamespace({ namespace: ctx.namespace });
      if (!o.pollers) return `${ctx.temporalAddress} namespace ${ctx.namespace}`;
      // A busy worker is listed only while it has a poll outstanding or made one recently, so
      // look at both task queue types (TASK_QUEUE_TYPE_WORKFLOW = 1, _ACTIVITY = 2; kind NORMAL = 1)
      // and give it a few seconds before calling the queue unserved.
      let n = 0;
      for (let attempt = 0; attempt < 5 && n === 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 1000));
        for (const taskQueueType of [1, 2]) {
          const tq = await client.workflowService.describeTaskQueue({
            namespace: ctx.namespace,
            taskQueue: { name: ctx.taskQueue, kind: 1 },
            taskQueueType,
          });
          n = Math.max(n, tq.pollers?.length ?? 0);
        }
      }
      if (n === 0) throw new Error(`no worker polls task queue ${ctx.taskQueue}`);
      return `${ctx.temporalAddress} namespace ${ctx.namespace}, ${n} poller${n === 1 ? '' : 's'} on ${ctx.taskQueue}`;
    }),
  ];
  if (cfg.DATABASE_URL) {
    checks.push(
      check('postgres', async () => {
        await (await ctx.pool()).query('SELECT 1');
        return 'SELECT 1 ok';
      }),
    );
  }
  if (cfg.REDIS_URL) {
    checks.push(
      check('redis', async () => {
        const pong = await (await ctx.redis()).ping();
        return `PING ${pong}`;
      }),
    );
  }
  if (cfg.BINANCE_BASE_URL) {
    checks.push(
      check('exchange', async () => {
        await (await ctx.exchange()).ping();
        return `${cfg.BINANCE_BASE_URL} ping ok`;
      }),
    );
  }
  const results = await Promise.all(checks);
  if (ctx.output.json) ctx.output.out(JSON.stringify({ ok: results.every((r) => r.ok), checks: results }, null, 2) + '\n');
  else for (const r of results) ctx.output.out(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(9)} ${r.detail}\n`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new CliError(`unhealthy: ${failed.map((f) => `${f.name}: ${f.detail}`).join('; ')}`);
}
