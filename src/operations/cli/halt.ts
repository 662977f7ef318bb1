/**
 * The kill switch: `halt [--reason TEXT] [--cancel-open]` and `resume`.
 *
 * The state is one row in PostgreSQL (`trading_halt`, migration 004; every change is also kept in
 * `trading_halt_log`), which every bridge reads in the same statement that records a decision:
 * from the moment `halt` returns, each new approve/modify is recorded in `decisions` with
 * `refused_rule = 'halted'` and dead-lettered on `risk_decisions:dead` (replay it after `resume`
 * to execute it); rejections are still recorded. Trades already started go on unless
 * `--cancel-open` is given: then each running TradeExecution gets its `cancel` update (the
 * workflow cancels its open orders on the exchange and ends `cancelled`). A trade that has no open
 * order yet (still validating or submitting) is asked again on a later pass, a few times.
 */
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { cancelUpdate, WORKFLOW_TYPE } from '../../../workflows/definitions';
import type { CliContext } from './context';
import { CliError, describeError, EXIT } from './errors';

interface HaltState {
  halted: boolean;
  reason: string | null;
  changed_by: string | null;
  changed_at: Date;
}

export interface CancelOutcome {
  workflowId: string;
  outcome: 'cancelled' | 'refused' | 'failed' | 'ended';
  detail: string;
}

const PASSES = 4;
const PASS_INTERVAL_MS = 1500;
const CANCELS_AT_ONCE = 8;
const UPDATE_DEADLINE_MS = 30_000;

function defaultActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${os.hostname()} (trade-exec CLI)`;
}

async function setHalt(ctx: CliContext, halted: boolean, reason: string | null, by: string): Promise<HaltState> {
  const pool = await ctx.pool();
  try {
    const r = await pool.query<HaltState>(
      `WITH s AS (
         UPDATE trading_halt SET halted = $1, reason = $2, changed_by = $3, changed_at = now()
         RETURNING halted, reason, changed_by, changed_at),
       l AS (INSERT INTO trading_halt_log (halted, reason, changed_by) SELECT halted, reason, changed_by FROM s)
       SELECT * FROM s`,
      [halted, reason, by],
    );
    if (!r.rows[0]) throw new Error('trading_halt has no row');
    return r.rows[0];
  } catch (err) {
    if (/relation "trading_halt(_log)?" does not exist/.test(describeError(err))) {
      throw new CliError('the database has no kill switch table yet: start the service (or a bridge) once so that it migrates (migration 004)');
    }
    throw new CliError(`${halted ? 'halting' : 'resuming'} failed: ${describeError(err)}`);
  }
}

/** Running TradeExecution workflows on the service's task queue. */
async function runningTrades(client: Client, taskQueue: string): Promise<string[]> {
  if (!/^[A-Za-z0-9._:/-]+$/.test(taskQueue)) throw new CliError(`unusable task queue ${JSON.stringify(taskQueue)}`, EXIT.usage);
  const ids: string[] = [];
  const query = `WorkflowType = '${WORKFLOW_TYPE}' AND TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query, pageSize: 1000 })) ids.push(wf.workflowId);
  return ids;
}

async function cancelOne(client: Client, workflowId: string, reason: string): Promise<CancelOutcome> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const state = await client.connection.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () => handle.executeUpdate(cancelUpdate, { args: [{ reason }] }));
    return { workflowId, outcome: 'cancelled', detail: `trade ${state.status}` };
  } catch (err) {
    const msg = describeError(err);
    if (/already (completed|terminated|canceled|failed)|workflow execution already completed|not found/i.test(msg)) return { workflowId, outcome: 'ended', detail: msg };
    if (err instanceof WorkflowUpdateFailedError || /Update rejected|nothing to change|no open order/i.test(msg)) return { workflowId, outcome: 'refused', detail: msg };
    return { workflowId, outcome: 'failed', detail: msg };
  }
}

/** Sends `cancel` to every running trade, a few passes apart, until none is left to ask. */
export async function cancelOpenTrades(ctx: CliContext, reason: string): Promise<CancelOutcome[]> {
  const client = await ctx.temporal();
  const final = new Map<string, CancelOutcome>();
  for (let pass = 1; pass <= PASSES; pass++) {
    const todo = (await runningTrades(client, ctx.taskQueue)).filter((id) => final.get(id)?.outcome !== 'cancelled');
    if (todo.length === 0) break;
    ctx.output.progress(`cancel pass ${pass}: ${todo.length} running trade${todo.length === 1 ? '' : 's'}`);
    for (let i = 0; i < todo.length; i += CANCELS_AT_ONCE) {
      const outcomes = await Promise.all(todo.slice(i, i + CANCELS_AT_ONCE).map((id) => cancelOne(client, id, reason)));
      for (const o of outcomes) final.set(o.workflowId, o);
    }
    // Trades refused because they have no open order yet may be placing one now: ask again.
    if ([...final.values()].every((o) => o.outcome !== 'refused')) break;
    if (pass < PASSES) await new Promise((r) => setTimeout(r, PASS_INTERVAL_MS));
  }
  return [...final.values()].sort((a, b) => (a.workflowId < b.workflowId ? -1 : 1));
}

export async function halt(ctx: CliContext, o: { reason?: string; by?: string; cancelOpen: boolean }): Promise<void> {
  const reason = o.reason ?? 'halted with trade-exec halt';
  const state = await setHalt(ctx, true, reason, o.by ?? defaultActor());
  ctx.output.progress(`trading halted at ${state.changed_at.toISOString()}: new decisions are recorded and refused (rule halted)`);
  const cancels = o.cancelOpen ? await cancelOpenTrades(ctx, `halt: ${reason}`) : undefined;
  const stillOpen = cancels?.filter((c) => c.outcome === 'refused' || c.outcome === 'failed') ?? [];
  if (ctx.output.json) {
    ctx.output.out(JSON.stringify({ ...state, changed_at: state.changed_at.toISOString(), ...(cancels ? { cancels } : {}) }, null, 2) + '\n');
  } else {
    ctx.output.out(`trading halted: ${reason} (by ${state.changed_by}, ${state.changed_at.toISOString()})\n`);
    if (cancels) {
      const n = (k: CancelOutcome['outcome']) => cancels.filter((c) => c.outcome === k).length;
      ctx.output.out(`open trades: ${n('cancelled')} cancelled, ${n('ended')} already ended, ${stillOpen.length} not cancelled\n`);
      for (const c of cancels) ctx.output.out(`  ${c.outcome.padEnd(9)} ${c.workflowId}  ${c.detail}\n`);
    }
  }
  if (stillOpen.length > 0) {
    throw new CliError(
      `trading is halted, but ${stillOpen.length} trade${stillOpen.length === 1 ? '' : 's'} could not be cancelled: ${stillOpen.map((c) => `${c.workflowId} (${c.detail})`).join('; ')}`,
    );
  }
}

export async function resume(ctx: CliContext, o: { by?: string }): Promise<void> {
  const state = await setHalt(ctx, false, null, o.by ?? defaultActor());
  if (ctx.output.json) ctx.output.out(JSON.stringify({ ...state, changed_at: state.changed_at.toISOString() }, null, 2) + '\n');
  else ctx.output.out(`trading resumed (by ${state.changed_by}, ${state.changed_at.toISOString()}); decisions refused while halted stay on risk_decisions:dead\n`);
}
