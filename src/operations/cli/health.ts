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
      const tq = await client.workflowService.describeTaskQueue({
        namespace: ctx.namespace,
        // TASK_QUEUE_KIND_NORMAL = 1, TASK_QUEUE_TYPE_WORKFLOW = 1 (temporal.api.enums.v1).
        taskQueue: { name: ctx.taskQueue, kind: 1 },
        taskQueueType: 1,
      });
      const n = tq.pollers?.length ?? 0;
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
