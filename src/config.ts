/**
 * All configuration comes from environment variables, parsed by one schema so that a bad value
 * stops start-up with a message naming the variable and the problem. Unset optional services
 * (Temporal, Postgres, Redis, exchange) mean "bring up the embedded default".
 */
import os from 'node:os';
import { z } from 'zod';
import { EXCHANGE_SYMBOL } from './shared/symbol';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A switch that is on unless set to false or 0; anything else is refused, naming the variable. */
const switchOnByDefault = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => v === undefined || v === 'true' || v === '1');

const intFromEnv = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      const n = Number(v);
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max}, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

/** A non-negative exact decimal kept as its string (risk limits are compared with dec()). */
const decimalFromEnv = (def: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      if (!/^\d+(\.\d+)?$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `must be a decimal number >= 0 (0 turns the rule off), got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return v.trim();
    });

const urlFromEnv = (protocols: string[]) =>
  optionalString.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL with scheme ${protocols.join(' or ')}` },
  );

/** Versioning behaviours a versioned worker can default its workflows to (the SDK's VersioningBehavior). */
export const VERSIONING_BEHAVIORS = ['PINNED', 'AUTO_UPGRADE'] as const;
export type VersioningBehaviorName = (typeof VERSIONING_BEHAVIORS)[number];
const DEPLOYMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;
const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

/** The worker's workflow cache when TEMPORAL_MAX_CACHED_WORKFLOWS is unset. */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 400;

export const ConfigSchema = z
  .object({
    TEMPORAL_ADDRESS: optionalString.refine((v) => v === undefined || /^[^\s:]+:\d+$/.test(v), {
      message: 'must be host:port, e.g. 127.0.0.1:7233',
    }),
    TEMPORAL_NAMESPACE: optionalString.transform((v) => v ?? 'default'),
    TEMPORAL_TASK_QUEUE: optionalString.transform((v) => v ?? 'trading-execution'),
    /** Queue of the order-sending activities; unset or 'none' keeps them on TEMPORAL_TASK_QUEUE. */
    TEMPORAL_ORDER_TASK_QUEUE: optionalString,
    /**
     * Workflows the worker keeps in memory (~0.4 MB each). A resting trade wakes rarely (its
     * stream vouches for it), so one evicted is replayed only when its order changes.
     */
    TEMPORAL_MAX_CACHED_WORKFLOWS: intFromEnv(DEFAULT_MAX_CACHED_WORKFLOWS, 10, 100_000),
    /** Start workflows eagerly on this process's worker when it runs the bridge too (default on). */
    TEMPORAL_EAGER_START: switchOnByDefault,
    /** Replay a few saved histories before the worker polls, so its first trades run warm (default on; src/worker/warm-up.ts). */
    WORKER_WARM_UP: switchOnByDefault,
    TEMPORAL_UI_PORT: intFromEnv(0, 0, 65535),
    /**
     * Worker Versioning (docs/deploys.md): the Worker Deployment this process's workers belong to.
     * Unset: unversioned workers, deployed by rolling restart under the patched() + replay rules.
     * No '.' or ':' (the server writes a version as `<deployment>.<build id>` or with ':').
     */
    TEMPORAL_WORKER_DEPLOYMENT: optionalString.refine((v) => v === undefined || DEPLOYMENT_NAME.test(v), {
      message: 'must be a deployment name of letters, digits, "-" and "_" (at most 200), e.g. trade-exec',
    }),
    /**
     * The version's build id. Unset (with a deployment): buildIdOf(workflow bundle code), so the
     * same workflow code is always the same version and any change to it is a new one.
     */
    TEMPORAL_WORKER_BUILD_ID: optionalString.refine((v) => v === undefined || (BUILD_ID.test(v) && v !== '__unversioned__'), {
      message: 'must be a build id of letters, digits, ".", "-", "_" and "+" (at most 200), e.g. 3f2a9c0d1e4b5a67 or v1.4.2',
    }),
    /**
     * How workflows on a versioned worker move between versions: PINNED (default) finishes each
     * trade on the version it started on; AUTO_UPGRADE moves it at its next workflow task, so the
     * new code must replay the old histories (patched() rules).
     */
    TEMPORAL_VERSIONING_BEHAVIOR: optionalString.pipe(
      z.enum(VERSIONING_BEHAVIORS, { error: (iss) => `must be ${VERSIONING_BEHAVIORS.join(' or ')}, got ${JSON.stringify(iss.input)}` }).optional(),
    ),
    /**
     * A workflow bundle written by `npm run build:workflows` (bundleWorkflowCode). Unset: the
     * worker bundles workflows/ itself at start. Either way the build id hashes the code that runs.
     */
    TEMPORAL_WORKFLOW_BUNDLE: optionalString,
    DATABASE_URL: urlFromEnv(['postgres:', 'postgresql:']),
    REDIS_URL: urlFromEnv(['redis:', 'rediss:']),
    BINANCE_BASE_URL: urlFromEnv(['http:', 'https:']),
    BINANCE_WS_API_URL: urlFromEnv(['ws:', 'wss:']),
    BINANCE_API_KEY: optionalString,
    BINANCE_API_SECRET: optionalString,
    BINANCE_PRIVATE_KEY_PATH: optionalString,
    BINANCE_RECV_WINDOW: intFromEnv(5000, 1, 60000),
    /**
     * selfTradePreventionMode sent with every order (enums.md). EXPIRE_TAKER by default: when two
     * of our own trades would match each other, the order arriving expires (its response says
     * EXPIRED_IN_MATCH at once) and the one already resting keeps its place in the queue.
     */
    BINANCE_STP_MODE: z.enum(['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT', 'TRANSFER']).default('EXPIRE_TAKER'),
    PAPER_EXCHANGE_PORT: intFromEnv(0, 0, 65535),
    ORDER_TIMEOUT_MS: intFromEnv(60_000, 1000, 30 * 24 * 3600 * 1000),
    BRIDGE_CONSUMER: optionalString.transform((v) => v ?? `${os.hostname()}-${process.pid}`),
    BRIDGE_BATCH_SIZE: intFromEnv(100, 1, 10_000),
    BRIDGE_CONCURRENCY: intFromEnv(32, 1, 1000),
    BRIDGE_CLAIM_IDLE_MS: intFromEnv(60_000, 1000, 24 * 3600 * 1000),
    /** Oldest a MARKET decision may be when the bridge would start it (0 = no limit): a late MARKET order trades at today's price. */
    DECISION_MAX_AGE_MS: intFromEnv(60_000, 0, 30 * 24 * 3600 * 1000),
    /** The same for resting orders (LIMIT, stop-limit, OCO), whose price the decision fixes (0 = no limit). */
    DECISION_MAX_AGE_RESTING_MS: intFromEnv(300_000, 0, 30 * 24 * 3600 * 1000),
    /** How far a decision's timestamp may be ahead of this host's clock. */
    DECISION_CLOCK_SKEW_MS: intFromEnv(5_000, 0, 3600 * 1000),
    /** HMAC-SHA256 key: when set, the bridge executes only entries whose `sig` signs their `data`. A secret. */
    DECISION_SIGNING_KEY: optionalString.refine((v) => v === undefined || v.length >= 32, {
      message: 'must be at least 32 characters (e.g. `openssl rand -hex 32`)',
    }),
    METRICS_PORT: intFromEnv(9464, 0, 65535),
    /** Interface of the metrics endpoint (no auth, shows positions and PnL): loopback unless widened. */
    METRICS_HOST: optionalString
      .refine((v) => v === undefined || /^[A-Za-z0-9.:-]+$/.test(v), { message: 'must be an address or host name, e.g. 127.0.0.1 or 0.0.0.0' })
      .transform((v) => v ?? '127.0.0.1'),
    /** How often the reconciliation schedule compares Postgres with the exchange; 0 turns it off. */
    RECONCILE_EVERY_MS: intFromEnv(300_000, 0, 24 * 3600 * 1000),
    /** Symbols the service trades (first symbol of a base asset books that asset's inventory). */
    RECONCILE_SYMBOLS: optionalString
      .transform((v) => (v ?? 'BTCUSDT,ETHUSDT,BNBUSDT').split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(EXCHANGE_SYMBOL, 'must be exchange symbols as exchangeInfo lists them, such as BTCUSDT, comma-separated'))),
    /** Which parts this process runs; docker-compose scales workers and bridges separately. */
    /**
     * Pre-trade risk guard (src/risk/pre-trade-guard.ts, where the defaults are justified); limits
     * in the symbol's quote asset, 0 turns a rule off.
     */
    RISK_MAX_ORDER_NOTIONAL: decimalFromEnv('100000'),
    RISK_MAX_POSITION_NOTIONAL: decimalFromEnv('250000'),
    RISK_PRICE_COLLAR_PCT: decimalFromEnv('10'),
    RISK_PASSIVE_PRICE_COLLAR_PCT: decimalFromEnv('80'),
    RISK_MAX_ORDERS_PER_MINUTE: intFromEnv(300, 0, 1_000_000),
    TRADE_EXEC_ROLES: optionalString
      .transform((v) => (v ?? 'worker,bridge').split(',').map((r) => r.trim()).filter(Boolean))
      .pipe(z.array(z.enum(['worker', 'bridge'])).min(1, 'must name at least one of worker, bridge')),
    DATA_DIR: optionalString.transform((v) => v ?? '.data'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional().default('info'),
  })
  .superRefine((c, ctx) => {
    // Without a deployment these would be silently ignored: an operator who sets them expects versioning.
    for (const k of ['TEMPORAL_WORKER_BUILD_ID', 'TEMPORAL_VERSIONING_BEHAVIOR'] as const) {
      if (c[k] !== undefined && c.TEMPORAL_WORKER_DEPLOYMENT === undefined) {
        ctx.addIssue({ code: 'custom', path: [k], message: 'takes effect only with TEMPORAL_WORKER_DEPLOYMENT: set the deployment name too, or unset this' });
      }
    }
    if (c.BINANCE_BASE_URL && !c.BINANCE_API_KEY) {
      ctx.addIssue({ code: 'custom', path: ['BINANCE_API_KEY'], message: 'is required when BINANCE_BASE_URL is set' });
    }
    if (c.BINANCE_BASE_URL && !c.BINANCE_API_SECRET && !c.BINANCE_PRIVATE_KEY_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: ['BINANCE_API_SECRET'],
        message: 'BINANCE_API_SECRET (HMAC) or BINANCE_PRIVATE_KEY_PATH (Ed25519) is required when BINANCE_BASE_URL is set',
      });
    }
  });

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment. The error names each variable and never echoes a secret's value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`));
  }
  return parsed.data;
}

/** What a versioned worker declares (src/worker/worker.ts WorkerVersioning), before the build id is known. */
export interface VersioningConfig {
  deploymentName: string;
  /** Absent: derived from the workflow bundle's code (buildIdOf). */
  buildId?: string;
  defaultBehavior: VersioningBehaviorName;
}

/** Worker Versioning as configured, or undefined when TEMPORAL_WORKER_DEPLOYMENT is unset (unversioned). */
export function versioningOf(
  c: Pick<Config, 'TEMPORAL_WORKER_DEPLOYMENT' | 'TEMPORAL_WORKER_BUILD_ID' | 'TEMPORAL_VERSIONING_BEHAVIOR'>,
): VersioningConfig | undefined {
  if (c.TEMPORAL_WORKER_DEPLOYMENT === undefined) return undefined;
  return {
    deploymentName: c.TEMPORAL_WORKER_DEPLOYMENT,
    ...(c.TEMPORAL_WORKER_BUILD_ID !== undefined ? { buildId: c.TEMPORAL_WORKER_BUILD_ID } : {}),
    defaultBehavior: c.TEMPORAL_VERSIONING_BEHAVIOR ?? 'PINNED',
  };
}

/**
 * The order-sending activities' queue, if they have one of their own (TEMPORAL_ORDER_TASK_QUEUE).
 * Off by default: measured on an idle stack, sharing the workflow's queue is faster (XADD ->
 * accepted p50 33 ms vs 54 ms), because a submission on the workflow's own queue is handed to
 * this worker eagerly, ahead of anything queued. A queue of its own isolates submissions when
 * workers run short of activity slots.
 */
export function orderTaskQueueOf(c: Pick<Config, 'TEMPORAL_ORDER_TASK_QUEUE'>): string | undefined {
  const q = c.TEMPORAL_ORDER_TASK_QUEUE;
  return q === undefined || q === 'none' ? undefined : q;
}
