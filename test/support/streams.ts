/** Reading what the service published, for assertions. */
import type Redis from 'ioredis';
import type { ExecutionReport, OrderUpdateReport, PublishedReport as AnyReport } from '../../src/shared/trade';
import { poll } from './poll';

export interface Published<R> {
  streamId: string;
  report: R;
}
export type PublishedReport = Published<ExecutionReport>;

/** Everything on the stream, both kinds, in stream order. */
export async function readStream(redis: Redis, stream = 'trade_executions'): Promise<Array<Published<AnyReport>>> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([streamId, fields]) => {
    const i = fields.indexOf('data');
    return { streamId, report: JSON.parse(fields[i + 1] ?? 'null') as AnyReport };
  });
}

/** The trades' summary reports (one per trade). */
export async function readReports(redis: Redis, stream = 'trade_executions'): Promise<PublishedReport[]> {
  return (await readStream(redis, stream)).filter((p): p is PublishedReport => p.report.report_type === 'trade');
}

/** The per-transition order reports, in stream order. */
export async function readOrderUpdates(redis: Redis, stream = 'trade_executions'): Promise<Array<Published<OrderUpdateReport>>> {
  return (await readStream(redis, stream)).filter((p): p is Published<OrderUpdateReport> => p.report.report_type === 'order_update');
}

/** Polls the report stream until `predicate` matches a report, or fails after `timeoutMs`. */
export async function waitForReport(
  redis: Redis,
  predicate: (r: ExecutionReport) => boolean,
  timeoutMs = 60_000,
): Promise<PublishedReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readReports(redis)).find((p) => predicate(p.report));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching execution report within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The millisecond part of a stream entry id (the time Redis accepted the entry). */
export function streamIdMs(id: string): number {
  return Number(id.split('-')[0]);
}

export async function pushDecision(redis: Redis, decision: Record<string, unknown>): Promise<string> {
  const id = await redis.xadd('risk_decisions', '*', 'data', JSON.stringify(decision));
  if (!id) throw new Error('XADD returned no id');
  return id;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  return poll(what, probe, timeoutMs);
}
