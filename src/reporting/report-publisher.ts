/**
 * Publishes an execution report on a Redis stream exactly once, however often the publishing
 * activity is retried: the check ("was this report id published?") and the XADD happen in one
 * Lua script, which Redis runs atomically. A retry after Redis accepted the entry but before the
 * activity heard back finds the marker and returns the original entry id.
 */
import type Redis from 'ioredis';

export const TRADE_EXECUTIONS_STREAM = 'trade_executions';
/** Markers outlive any plausible retry window; a week keeps memory bounded. */
const MARKER_TTL_SECONDS = 7 * 24 * 3600;

const PUBLISH_ONCE = `
local existing = redis.call('GET', KEYS[2])
if existing then return existing end
local id = redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return id
`;

export function publishedMarkerKey(stream: string, reportId: string): string {
  return `${stream}:published:${reportId}`;
}

/** Returns the stream entry id (the original one if the report had been published before). */
export async function publishOnce(redis: Redis, stream: string, reportId: string, payload: string): Promise<string> {
  const id = await redis.eval(PUBLISH_ONCE, 2, stream, publishedMarkerKey(stream, reportId), payload, String(MARKER_TTL_SECONDS));
  if (typeof id !== 'string') throw new Error(`unexpected reply from publish script: ${String(id)}`);
  return id;
}
