/**
 * Postgres connection pool and transaction helper.
 *
 * node-pg returns `numeric` and `int8` columns as strings by default; that is deliberately
 * left alone (no global type parsers) so money, quantities and exchange ids never pass
 * through a JS number.
 */
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { createLogger, redactUrl, type Logger } from '../logging';

export type { Pool, PoolClient };

/** Anything that can run a query: the pool (auto-commit) or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | Pick<PoolClient, 'query'>;

export interface CreatePoolOptions {
  /** Maximum connections (default 10). */
  max?: number;
  /** Shown in pg_stat_activity, which makes a stuck worker easy to find. */
  applicationName?: string;
  /** Server-side statement timeout in ms (default: none). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection before failing (default 10 s, 0 = forever). */
  connectionTimeoutMs?: number;
  logger?: Logger;
}

export function createPool(databaseUrl: string, options: CreatePoolOptions = {}): Pool {
  const log = options.logger ?? createLogger('persistence');
  const config: PoolConfig = {
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'trade-exec',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  };
  if (options.statementTimeoutMs !== undefined) config.statement_timeout = options.statementTimeoutMs;
  const pool = new Pool(config);
  // An idle client whose server connection dies emits 'error' on the pool; without a listener
  // node treats it as an unhandled 'error' event and kills the process. The pool already
  // discards that client, so logging is all that is left to do.
  pool.on('error', (err) => {
    log.warn({ err: { message: err.message }, database: redactUrl(databaseUrl) }, 'idle postgres client failed');
  });
  return pool;
}

const ISOLATION_LEVELS = ['READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/**
 * Runs `fn` inside BEGIN … COMMIT on one pooled client. Any throw (from `fn` or COMMIT) rolls
 * back and rethrows the original error. If the ROLLBACK itself fails the connection is in an
 * unknown state, so it is destroyed instead of being returned to the pool.
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  options: { isolation?: IsolationLevel } = {},
): Promise<T> {
  if (options.isolation !== undefined && !ISOLATION_LEVELS.includes(options.isolation)) {
    // The level is spliced into SQL text, so only the three known spellings get through.
    throw new Error(`unknown isolation level ${JSON.stringify(options.isolation)}`);
  }
  const { client, release } = await checkout(pool);
  let destroy: Error | undefined;
  try {
    await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation}` : 'BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      destroy = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw err;
  } finally {
    release(destroy);
  }
}

/**
 * Checks a client out of the pool with an 'error' listener attached while it is held.
 *
 * pg emits 'error' on a client whose connection drops (server restart, terminated backend)
 * even while a query is running; the pool only listens while the client is idle, so a
 * checked-out client without a listener turns a lost connection into an unhandled 'error'
 * event that kills the process. The running query still rejects, which is how callers learn.
 */
export async function checkout(pool: Pool): Promise<{ client: PoolClient; release: (destroy?: Error) => void }> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost = err;
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    release(destroy?: Error) {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      // A client that lost its connection must not go back into the pool.
      client.release(destroy ?? lost);
    },
  };
}
