/** Trade commands against Temporal: list, show, cancel, amend, close, set-timeout. */
import { isExchangeSymbol } from '../../shared/symbol';
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError, type TypedSearchAttributes } from '@temporalio/common';
import {
  amendUpdate,
  cancelUpdate,
  closeNowUpdate,
  getStateQuery,
  setTimeoutUpdate,
  WORKFLOW_TYPE,
} from '../../../workflows/definitions';
import { DecisionId } from '../../shared/decision';
import { SA } from '../../shared/search-attributes';
import { TRADE_STATUSES, type TradeState, type TradeStatus } from '../../shared/trade';
import type { CliContext } from './context';
import { CliError, describeError, EXIT, usageError } from './errors';
import { renderTradeList, renderTradeState, type WorkflowSummary } from './format';


/** How long a query or an update may wait for a worker before we say none answers. */
const WORKER_WAIT_MS = 30_000;

/** Runs fn; if it takes longer than 2 s, says what it is waiting for every 2 s (stderr). */
export async function withProgress<T>(ctx: CliContext, label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const timer = setInterval(() => ctx.output.progress(`${label} (${Math.round((Date.now() - t0) / 1000)} s)`), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** `trade-abc` or `abc` (the decision id) → the workflow id. */
export function workflowIdOf(idOrDecision: string | undefined): string {
  if (!idOrDecision) throw usageError('missing the trade: give its workflow id (trade-<decision id>) or decision id');
  const id = idOrDecision.startsWith('trade-') ? idOrDecision.slice('trade-'.length) : idOrDecision;
  const parsed = DecisionId.safeParse(id);
  if (!parsed.success) throw usageError(`not a trade id: ${JSON.stringify(idOrDecision)} (${parsed.error.issues[0]?.message})`);
  return `trade-${id}`;
}

export interface ListFilters {
  symbol?: string;
  side?: string;
  status?: string;
  type?: string;
  all?: boolean;
  taskQueue: string;
}

/** The visibility query for the filters; every value is checked, so nothing can be injected. */
export function visibilityQuery(filters: ListFilters): string {
  const parts = [`WorkflowType = '${WORKFLOW_TYPE}'`, `TaskQueue = '${quoteSafe(filters.taskQueue, 'task queue')}'`];
  if (!filters.all) parts.push(`ExecutionStatus = 'Running'`);
  if (filters.symbol !== undefined) {
    const symbol = filters.symbol.toUpperCase();
    if (!isExchangeSymbol(symbol)) throw usageError(`--symbol must be an exchange symbol such as BTCUSDT, got ${JSON.stringify(filters.symbol)}`);
    parts.push(`${SA.symbol.name} = '${symbol}'`);
  }
  if (filters.side !== undefined) {
    const side = filters.side.toUpperCase();
    if (side !== 'BUY' && side !== 'SELL') throw usageError(`--side must be BUY or SELL, got ${JSON.stringify(filters.side)}`);
    parts.push(`${SA.side.name} = '${side}'`);
  }
  if (filters.status !== undefined) {
    const status = filters.status.toLowerCase();
    if (!TRADE_STATUSES.includes(status as TradeStatus)) {
      throw usageError(`--status must be one of ${TRADE_STATUSES.join(', ')}, got ${JSON.stringify(filters.status)}`);
    }
    parts.push(`${SA.status.name} = '${status}'`);
  }
  if (filters.type !== undefined) {
    const type = filters.type.toUpperCase();
    if (!/^[A-Z_]{1,30}$/.test(type)) throw usageError(`--type must be an order type such as LIMIT, got ${JSON.stringify(filters.type)}`);
    parts.push(`${SA.orderType.name} = '${type}'`);
  }
  return parts.join(' AND ');
}

function quoteSafe(v: string, what: string): string {
  if (!/^[A-Za-z0-9._:/-]+$/.test(v)) throw usageError(`unusable ${what} ${JSON.stringify(v)}`);
  return v;
}

function summaryOf(info: {
  workflowId: string;
  status: { name: string };
  startTime: Date;
  closeTime?: Date;
  typedSearchAttributes: TypedSearchAttributes;
  memo?: Record<string, unknown>;
}): WorkflowSummary {
  const sa = info.typedSearchAttributes;
  const summary = info.memo?.summary;
  return {
    workflowId: info.workflowId,
    decisionId: sa.get(SA.decisionId) ?? null,
    symbol: sa.get(SA.symbol) ?? null,
    side: sa.get(SA.side) ?? null,
    orderType: sa.get(SA.orderType) ?? null,
    tradeStatus: sa.get(SA.status) ?? null,
    executionStatus: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime ? info.closeTime.toISOString() : null,
    summary: typeof summary === 'string' ? summary : null,
  };
}

export async function listTrades(ctx: CliContext, f: Omit<ListFilters, 'taskQueue'> & { limit: number }): Promise<void> {
  const query = visibilityQuery({ ...f, taskQueue: ctx.taskQueue });
  const client = await ctx.temporal();
  const rows: WorkflowSummary[] = [];
  try {
    for await (const wf of client.workflow.list({ query, pageSize: Math.min(f.limit, 1000) })) {
      rows.push(summaryOf(wf));
      if (rows.length >= f.limit) break;
    }
  } catch (err) {
    throw new CliError(`listing trades failed (query: ${query}): ${describeError(err)}`);
  }
  if (ctx.output.json) ctx.output.out(JSON.stringify({ query, trades: rows }, null, 2) + '\n');
  else ctx.output.out(renderTradeList(rows));
}

async function existing(client: Client, workflowId: string): Promise<{ handle: WorkflowHandle; status: string; summary: WorkflowSummary }> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const d = await handle.describe();
    if (d.type !== WORKFLOW_TYPE) throw new CliError(`${workflowId} is a ${d.type} workflow, not a trade`, EXIT.notFound);
    return { handle, status: d.status.name, summary: summaryOf(d) };
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof WorkflowNotFoundError || /not found/i.test(describeError(err))) {
      throw new CliError(`no trade ${workflowId} in namespace ${client.options.namespace}`, EXIT.notFound);
    }
    throw new CliError(`describing ${workflowId} failed: ${describeError(err)}`);
  }
}

/** Waits at most WORKER_WAIT_MS for something that needs a worker to answer. */
async function withWorker<T>(client: Client, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.connection.withDeadline(Date.now() + WORKER_WAIT_MS, fn);
  } catch (err) {
    const msg = describeError(err);
    if (/deadline|DEADLINE_EXCEEDED/i.test(msg)) {
      throw new CliError(`${what}: no worker answered within ${WORKER_WAIT_MS / 1000} s (is the worker running?)`);
    }
    throw err;
  }
}

export async function showTrade(ctx: CliContext, id: string | undefined): Promise<void> {
  const workflowId = workflowIdOf(id);
  const client = await ctx.temporal();
  const { handle, status } = await existing(client, workflowId);
  let state: TradeState;
  try {
    state = await withProgress(ctx, `querying ${workflowId}`, () => withWorker(client, `querying ${workflowId}`, () => handle.query(getStateQuery)));
  } catch (err) {
    // A finished trade returns its final state as the workflow result, no worker needed.
    if (status === 'COMPLETED') state = (await handle.result()) as TradeState;
    else if (err instanceof CliError) throw err;
    else throw new CliError(`querying ${workflowId} failed: ${describeError(err)}`);
  }
  if (ctx.output.json) ctx.output.out(JSON.stringify({ workflowId, executionStatus: status, state }, null, 2) + '\n');
  else ctx.output.out(renderTradeState(state, status));
}

type UpdateKind = 'cancel' | 'amend' | 'closeNow' | 'setTimeout';

async function runUpdate(ctx: CliContext, id: string | undefined, kind: UpdateKind, arg: unknown): Promise<void> {
  const workflowId = workflowIdOf(id);
  const client = await ctx.temporal();
  const { handle, status } = await existing(client, workflowId);
  if (status !== 'RUNNING') throw new CliError(`${workflowId} is ${status}: nothing to ${kind}`);
  let state: TradeState;
  try {
    state = await withProgress(ctx, `${kind} on ${workflowId}: waiting for the workflow and the exchange`, () => withWorker(client, `${kind} on ${workflowId}`, () => {
      switch (kind) {
        case 'cancel':
          return handle.executeUpdate(cancelUpdate, { args: [arg as { reason?: string }] });
        case 'amend':
          return handle.executeUpdate(amendUpdate, { args: [arg as { price?: string; quantity?: string }] });
        case 'closeNow':
          return handle.executeUpdate(closeNowUpdate, { args: [] });
        case 'setTimeout':
          return handle.executeUpdate(setTimeoutUpdate, { args: [arg as { timeoutMs: number }] });
      }
    }));
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (err instanceof WorkflowUpdateFailedError) throw new CliError(`${kind} refused for ${workflowId}: ${describeError(err)}`);
    throw new CliError(`${kind} on ${workflowId} failed: ${describeError(err)}`);
  }
  const op = [...state.operations].reverse().find((o) => o.kind === kind);
  if (ctx.output.json) ctx.output.out(JSON.stringify({ workflowId, operation: op ?? null, state }, null, 2) + '\n');
  else {
    ctx.output.out(`${kind} ${op?.status ?? 'done'}${op?.result ? `: ${op.result}` : ''}\n\n`);
    ctx.output.out(renderTradeState(state));
  }
}

export const cancelTrade = (ctx: CliContext, id: string | undefined, reason: string | undefined) =>
  runUpdate(ctx, id, 'cancel', { reason: reason ?? 'operator CLI' });

export function amendTrade(ctx: CliContext, id: string | undefined, price: string | undefined, quantity: string | undefined) {
  if (price === undefined && quantity === undefined) throw usageError('amend needs --price and/or --quantity');
  for (const [name, v] of [
    ['--price', price],
    ['--quantity', quantity],
  ] as const) {
    if (v !== undefined && !/^\d+(\.\d+)?$/.test(v)) throw usageError(`${name} must be a positive decimal such as 0.001, got ${JSON.stringify(v)}`);
  }
  return runUpdate(ctx, id, 'amend', { ...(price !== undefined ? { price } : {}), ...(quantity !== undefined ? { quantity } : {}) });
}

export const closeTrade = (ctx: CliContext, id: string | undefined) => runUpdate(ctx, id, 'closeNow', undefined);

export function setTradeTimeout(ctx: CliContext, id: string | undefined, ms: string | undefined) {
  if (ms === undefined || !/^\d+$/.test(ms)) throw usageError('set-timeout needs the entry deadline in ms from the trade start, e.g. set-timeout trade-x 120000');
  return runUpdate(ctx, id, 'setTimeout', { timeoutMs: Number(ms) });
}

/** Cancels the workflow itself (Temporal cancellation: it cancels its orders, then ends). */
export async function cancelWorkflow(ctx: CliContext, id: string | undefined, wait: boolean, waitMs: number): Promise<void> {
  const workflowId = workflowIdOf(id);
  const client = await ctx.temporal();
  const { handle, status } = await existing(client, workflowId);
  if (status !== 'RUNNING') throw new CliError(`${workflowId} is ${status}: nothing to cancel`);
  await handle.cancel();
  ctx.output.progress(`cancellation of workflow ${workflowId} requested`);
  let final = 'RUNNING';
  if (wait) {
    const t0 = Date.now();
    for (;;) {
      final = (await handle.describe()).status.name;
      if (final !== 'RUNNING') break;
      const elapsed = Date.now() - t0;
      if (elapsed > waitMs) {
        throw new CliError(`${workflowId} still running after ${Math.round(waitMs / 1000)} s; cancellation stays requested`, EXIT.timeout);
      }
      ctx.output.progress(`waiting for ${workflowId} to cancel its orders and close (${Math.round(elapsed / 1000)} s)`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (ctx.output.json) ctx.output.out(JSON.stringify({ workflowId, cancelRequested: true, executionStatus: final }, null, 2) + '\n');
  else ctx.output.out(`${workflowId}: cancellation requested${wait ? `; workflow ${final}` : ''}\n`);
}
