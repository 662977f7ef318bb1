/**
 * Start-up waits: a process that needs Temporal, PostgreSQL or Redis waits for each with backoff
 * and says what it waits for (name and address, never credentials), so no process depends on
 * being started after another (compose brings them up in any order; a restarted database
 * is waited for, not a reason to exit).
 *
 * A wait ends when the attempt succeeds, when the error is one that waiting cannot cure (a wrong
 * password: `fatal`), when `signal` aborts, or after `timeoutMs` (default: never).
 */
import Redis from 'ioredis';
import type { Logger } from '../logging';
import { sleep } from './child-process';

export interface WaitOptions {
  /** What is waited for, e.g. "Temporal". */
  what: string;
  /** Where, without credentials, e.g. "127.0.0.1:7233". */
  address: string;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** First retry delay (default 250 ms), doubled per attempt up to maxDelayMs (default 5 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this long (default: wait as long as it takes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Errors waiting cannot cure; thrown at once. */
  fatal?: (err: unknown) => boolean;
  /** A "still waiting" line at most this often (default 30 s); the first failure is always logged. */
  reportEveryMs?: number;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function waitFor<T>(o: WaitOptions, attempt: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const maxDelay = o.maxDelayMs ?? 5_000;
  const reportEvery = o.reportEveryMs ?? 30_000;
  let delay = o.initialDelayMs ?? 250;
  let lastReport = 0;
  for (let n = 1; ; n++) {
    try {
      const result = await attempt();
      if (n > 1) o.logger.info({ dependency: o.what, address: o.address, attempts: n, waitedMs: Date.now() - started }, `${o.what} at ${o.address} is reachable`);
      return result;
    } catch (err) {
      if (o.fatal?.(err)) throw err;
      const waited = Date.now() - started;
      if (o.timeoutMs !== undefined && waited >= o.timeoutMs) {
        throw new Error(`${o.what} at ${o.address} was not reachable within ${o.timeoutMs} ms: ${messageOf(err)}`);
      }
      if (n === 1 || Date.now() - lastReport >= reportEvery) {
        lastReport = Date.now();
        o.logger.warn(
          { dependency: o.what, address: o.address, attempt: n, waitedMs: waited, err: messageOf(err) },
          `waiting for ${o.what} at ${o.address}`,
        );
      }
    }
    if (o.signal?.aborted) throw new Error(`stopped while waiting for ${o.what} at ${o.address}`);
    // Jitter: several processes waiting for one server do not knock in step.
    await sleep(Math.round(delay * (0.8 + Math.random() * 0.4)));
    delay = Math.min(maxDelay, delay * 2);
  }
}

/** host:port/database of a postgres:// URL: what a log line may show. */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/** host:port of a redis:// or rediss:// URL. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol === 'rediss:' ? 'rediss://' : ''}${u.hostname}:${u.port || '6379'}`;
  } catch {
    return '(unparsable REDIS_URL)';
  }
}

/** Postgres errors that waiting cannot cure: bad password, unknown role, no such database, no access. */
export function isFatalPostgresError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '28P01' || code === '28000' || code === '3D000' || code === '42501';
}

/** Redis errors that waiting cannot cure: authentication refused. */
export function isFatalRedisError(err: unknown): boolean {
  return /\b(WRONGPASS|NOAUTH|NOPERM)\b/.test(messageOf(err));
}

/**
 * One connection attempt and a PING, on a throwaway client that does not retry on its own (the
 * service's long-lived clients reconnect by themselves once they exist).
 */
export async function pingRedis(url: string, connectTimeoutMs = 5_000): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: connectTimeoutMs });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } finally {
    r.disconnect();
  }
}
