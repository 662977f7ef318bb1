/** `send`: a risk decision onto `risk_decisions`, exactly as the risk engine would publish it. */
import { randomBytes } from 'node:crypto';
import { signDecisionData, SIGNATURE_FIELD } from '../../bridge/intake-safety';
import { TRADE_EXECUTIONS_STREAM } from '../../reporting/report-publisher';
import { describeZodError, ORDER_TYPES, RiskDecisionSchema, workflowIdFor } from '../../shared/decision';
import type { ExecutionReport, PublishedReport } from '../../shared/trade';
import type { CliContext } from './context';
import { RISK_DECISIONS_STREAM } from '../../shared/streams';
import { CliError, EXIT, usageError } from './errors';

export interface SendOptions {
  id?: string;
  symbol: string;
  side: string;
  qty: string;
  type: string;
  price?: string;
  stopPrice?: string;
  stopLimitPrice?: string;
  takeProfitPrice?: string;
  stopLoss?: string;
  takeProfit?: string;
  tif?: string;
  timeoutMs?: string;
  reject: boolean;
  reason: string[];
  /** A whole decision as JSON instead of the options above. */
  raw?: string;
  skipValidation: boolean;
  wait: boolean;
  waitMs: number;
  stream: string;
}

export function buildDecision(options: SendOptions): Record<string, unknown> {
  if (options.raw !== undefined) {
    try {
      const parsed = JSON.parse(options.raw) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      return parsed as Record<string, unknown>;
    } catch (err) {
      throw usageError(`--raw must be a JSON object: ${(err as Error).message}`);
    }
  }
  const side = options.side.toUpperCase();
  if (side !== 'BUY' && side !== 'SELL') throw usageError(`--side must be BUY or SELL, got ${JSON.stringify(options.side)}`);
  const type = options.type.toUpperCase();
  if (!(ORDER_TYPES as readonly string[]).includes(type)) throw usageError(`--type must be one of ${ORDER_TYPES.join(', ')}, got ${JSON.stringify(options.type)}`);
  let timeoutMs: number | undefined;
  if (options.timeoutMs !== undefined) {
    if (!/^\d+$/.test(options.timeoutMs)) throw usageError(`--timeout-ms must be a whole number of milliseconds, got ${JSON.stringify(options.timeoutMs)}`);
    timeoutMs = Number(options.timeoutMs);
  }
  const optional = {
    limit_price: options.price,
    stop_price: options.stopPrice,
    stop_limit_price: options.stopLimitPrice,
    take_profit_price: options.takeProfitPrice,
    stop_loss: options.stopLoss,
    take_profit: options.takeProfit,
    time_in_force: options.tif?.toUpperCase(),
    timeout_ms: timeoutMs,
  };
  return {
    decision_id: options.id ?? `cli-${Date.now()}-${randomBytes(3).toString('hex')}`,
    timestamp: Date.now(),
    symbol: options.symbol.toUpperCase(),
    decision: options.reject ? 'reject' : 'approve',
    original_signal: side === 'BUY' ? 2 : 0,
    approved_size: options.qty,
    reasons: options.reason.length ? options.reason : ['sent with trade-exec send'],
    order_type: type,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  };
}

export async function sendDecision(ctx: CliContext, o: SendOptions): Promise<void> {
  const decision = buildDecision(o);
  if (!o.skipValidation) {
    const parsed = RiskDecisionSchema.safeParse(decision);
    if (!parsed.success) throw usageError(`the decision is invalid: ${describeZodError(parsed.error)} (--skip-validation sends it anyway)`);
  }
  const decisionId = String(decision.decision_id);
  const workflowId = typeof decision.decision_id === 'string' ? workflowIdFor(decisionId) : null;
  const redis = await ctx.redis();
  // Reports published after this point are the candidates (a report can beat our first read).
  const last = o.wait ? await redis.xrevrange(TRADE_EXECUTIONS_STREAM, '+', '-', 'COUNT', 1) : [];
  let cursor = last[0]?.[0] ?? '0-0';
  const data = JSON.stringify(decision);
  // Signed over the exact text XADDed, which is what the bridge verifies.
  const key = ctx.cfg().DECISION_SIGNING_KEY;
  const entryId = key
    ? await redis.xadd(o.stream, '*', 'data', data, SIGNATURE_FIELD, signDecisionData(data, key))
    : await redis.xadd(o.stream, '*', 'data', data);
  if (!entryId) throw new CliError(`XADD to ${o.stream} returned no id`);
  const sent = { decisionId, workflowId, stream: o.stream, streamEntryId: entryId, signed: key !== undefined, decision };
  if (!o.wait) {
    if (ctx.output.json) ctx.output.out(JSON.stringify(sent, null, 2) + '\n');
    else ctx.output.out(`sent decision ${decisionId} to ${o.stream} as ${entryId}${workflowId ? ` (workflow ${workflowId})` : ''}\n`);
    return;
  }
  ctx.output.progress(`sent decision ${decisionId} as ${entryId}; waiting for its execution report on ${TRADE_EXECUTIONS_STREAM}`);
  const t0 = Date.now();
  let lastProgress = t0;
  let report: ExecutionReport | undefined;
  while (!report) {
    const elapsed = Date.now() - t0;
    if (elapsed > o.waitMs) {
      throw new CliError(
        `no execution report for ${decisionId} within ${Math.round(o.waitMs / 1000)} s (a resting LIMIT order reports when it ends; see \`trade-exec show ${decisionId}\`)`,
        EXIT.timeout,
      );
    }
    const res = (await redis.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', TRADE_EXECUTIONS_STREAM, cursor)) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    for (const [, entries] of res ?? []) {
      for (const [id, fields] of entries) {
        cursor = id;
        const i = fields.indexOf('data');
        try {
          const r = JSON.parse(fields[i + 1] ?? 'null') as PublishedReport | null;
          if (!r || r.decision_id !== decisionId) continue;
          if (r.report_type === 'order_update') {
            // The order's own transitions are the progress of a trade that is still going.
            ctx.output.progress(`order ${r.client_order_id}: ${r.from_state} -> ${r.to_state}${r.executed_quantity ? ` (executed ${r.executed_quantity})` : ''}`);
            lastProgress = Date.now();
          } else report = r;
        } catch {
          // not ours, and not JSON: ignore
        }
      }
    }
    if (!report && Date.now() - lastProgress >= 2000) {
      lastProgress = Date.now();
      ctx.output.progress(`still waiting for the report of ${decisionId} (${Math.round((Date.now() - t0) / 1000)} s)`);
    }
  }
  if (ctx.output.json) ctx.output.out(JSON.stringify({ ...sent, report }, null, 2) + '\n');
  else {
    ctx.output.out(
      `sent decision ${decisionId} as ${entryId}\n` +
        `report: ${report.status}${report.success ? '' : ' (not successful)'}  ${report.side ?? ''} ${report.filled_quantity}/${report.quantity} ${report.symbol}` +
        ` avg ${report.avg_fill_price}  order ${report.client_order_id ?? '-'}${report.error ? `  error: ${report.error}` : ''}\n`,
    );
  }
  if (!report.success) throw new CliError(`trade ${decisionId} ended ${report.status}${report.error ? `: ${report.error}` : ''}`, EXIT.failed);
}
