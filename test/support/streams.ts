/** Reading what the service published, for assertions. */
import type Redis from 'ioredis';
import type { ExecutionReport } from '../../src/shared/trade';

export interface PublishedReport {
  streamId: string;
  report: ExecutionReport;
}

export async function readReports(redis: Redis, stream = 'trade_executions'): Promise<PublishedReport[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([streamId, fields]) => {
    const i = fields.indexOf('data');
    return { streamId, report: JSON.parse(fields[i + 1] ?? 'null') as ExecutionReport };
  });
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
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
