/** Plain-text rendering for people; `--json` output bypasses all of this. */
import { table } from '../../shared/text-table';
import type { TradeState } from '../../shared/trade';

export { table };

export function isoTime(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface WorkflowSummary {
  workflowId: string;
  decisionId: string | null;
  symbol: string | null;
  side: string | null;
  orderType: string | null;
  tradeStatus: string | null;
  executionStatus: string;
  startTime: string;
  closeTime: string | null;
  summary: string | null;
}

export function renderTradeList(rows: WorkflowSummary[]): string {
  if (rows.length === 0) return '(no trades match)\n';
  return (
    table(
      ['WORKFLOW ID', 'SYMBOL', 'SIDE', 'TYPE', 'STATUS', 'TEMPORAL', 'STARTED', 'SUMMARY'],
      rows.map((r) => [
        r.workflowId,
        r.symbol ?? '-',
        r.side ?? '-',
        r.orderType ?? '-',
        r.tradeStatus ?? '-',
        r.executionStatus,
        r.startTime.replace(/\.\d{3}Z$/, 'Z'),
        r.summary ?? '',
      ]),
    ) + `\n${rows.length} trade${rows.length === 1 ? '' : 's'}\n`
  );
}

export function renderTradeState(state: TradeState, executionStatus?: string): string {
  const entry = state.orders[0]?.intent;
  const lines: string[] = [];
  lines.push(
    `${state.workflowId}  ${state.side} ${state.targetQty} ${state.symbol} ${entry?.type ?? ''}  status ${state.status} (phase ${state.phase})` +
      (executionStatus ? `  workflow ${executionStatus}` : ''),
  );
  lines.push(
    `decision ${state.decisionId}  started ${isoTime(state.startedAt)}  deadline ${isoTime(state.deadline)}` +
      (state.finishedAt ? `  finished ${isoTime(state.finishedAt)}` : ''),
  );
  if (state.error) lines.push(`error: ${state.error}`);
  lines.push('');
  if (state.orders.length === 0) lines.push('orders: (none yet)');
  else {
    lines.push('orders:');
    lines.push(
      indent(
        table(
          ['CLIENT ORDER ID', 'PURPOSE', 'TYPE', 'SIDE', 'QTY', 'PRICE', 'STATE', 'EXCHANGE', 'EXECUTED', 'AVG PRICE', 'WORKING'],
          state.orders.map((o) => [
            o.intent.clientOrderId,
            o.intent.purpose,
            o.intent.type,
            o.intent.side,
            o.intent.quantity,
            o.intent.price ?? (o.intent.stopPrice ? `stop ${o.intent.stopPrice}` : '-'),
            o.state,
            o.exchange?.status ?? '-',
            o.exchange?.executedQty ?? '0',
            o.fills.filledQty !== '0' ? o.fills.avgPrice : '-',
            state.working.includes(o.intent.clientOrderId) ? 'yes' : '',
          ]),
        ),
      ),
    );
  }
  if (state.operations.length > 0) {
    lines.push('', 'operator requests:');
    for (const op of state.operations) {
      const args = Object.keys(op.args).length ? ` ${JSON.stringify(op.args)}` : '';
      lines.push(`  #${op.id} ${op.kind}${args}  ${op.status}${op.result ? `: ${op.result}` : ''}  (${isoTime(op.at)})`);
    }
  }
  return lines.join('\n') + '\n';
}

function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}
