/**
 * One structured JSON logger for the whole service. Credentials are kept out of the logs twice:
 *
 *  1. by key name, wherever nested (`apiSecret`, `X-MBX-APIKEY`, `password`, ...), so a careless
 *     `log.info({ config })` cannot leak an API secret;
 *  2. by value, on the finished line: the values of the credential variables in the environment
 *     (BINANCE_API_KEY, BINANCE_API_SECRET, PAPER_API_*, POSTGRES_PASSWORD, DECISION_SIGNING_KEY,
 *     REDIS_PASSWORD) and anything passed
 *     to registerSecret() are replaced wherever they appear, also inside messages and error
 *     strings; request signatures (`signature=...`) and passwords in URLs are masked by pattern.
 *
 * The Temporal SDK's own logs (worker lifecycle, workflow `log`, activity `Context.current().log`,
 * and Core's native logs) go through the same pino logger once installTemporalLogging() has run,
 * with `workflowId`, `decisionId`, `runId`, `activityType` ... as fields.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';

export type { Logger };

const SECRET_KEYS = [
  'apiSecret',
  'api_secret',
  'secret',
  'apiKey',
  'api_key',
  'privateKey',
  'private_key',
  'privateKeyPem',
  'password',
  'signature',
  'authorization',
  'X-MBX-APIKEY',
  'x-mbx-apikey',
  'BINANCE_API_KEY',
  'BINANCE_API_SECRET',
  'BINANCE_PRIVATE_KEY',
  'PAPER_API_KEY',
  'PAPER_API_SECRET',
  'POSTGRES_PASSWORD',
  'DECISION_SIGNING_KEY',
  'signingKey',
  'REDIS_PASSWORD',
];

// fast-redact paths: identifiers as `a.b`, anything else (header names) as `a["x-y"]`.
const segment = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
const redactPaths = SECRET_KEYS.flatMap((k) =>
  ['', '*', '*.*', '*.*.*'].map((prefix) => `${prefix}${segment(k)}`.replace(/^\./, '')),
);

const CENSOR = '[redacted]';
/** Shorter values are not scrubbed by value (they would match ordinary words); key names still apply. */
const MIN_SECRET_LENGTH = 8;
const registered = new Set<string>();

/**
 * Credential values read from the environment at the time of the call. Passwords inside
 * DATABASE_URL / REDIS_URL are not scrubbed by value (a password like "postgres" would erase
 * that word from every line); URLs are masked by pattern instead (scrubSecrets).
 */
function environmentSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const name of ['BINANCE_API_KEY', 'BINANCE_API_SECRET', 'PAPER_API_KEY', 'PAPER_API_SECRET', 'POSTGRES_PASSWORD', 'DECISION_SIGNING_KEY', 'REDIS_PASSWORD']) {
    const v = env[name]?.trim();
    if (v) out.push(v);
  }
  return out;
}

/**
 * Adds values that must never appear in a log line (an exchange secret given in code rather
 * than through the environment, a password read from a file). Idempotent.
 */
export function registerSecret(...values: Array<string | undefined>): void {
  for (const v of values) if (v && v.length >= MIN_SECRET_LENGTH) registered.add(v);
}

/** Replaces every known secret value, request signature and URL password in `line`. */
export function scrubSecrets(line: string, extra: Iterable<string> = []): string {
  let out = line;
  for (const secret of [...registered, ...environmentSecrets(), ...extra]) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    // As it is, and as it looks inside a JSON string.
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      if (out.includes(form)) out = out.split(form).join(CENSOR);
    }
  }
  return maskPatterns(out);
}

/** Request signatures and passwords in URLs, by pattern (no list of values needed). */
function maskPatterns(line: string): string {
  return line
    .replace(/(signature[=:]\s*"?)[A-Za-z0-9%+/_=-]{16,}/gi, `$1${CENSOR}`)
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@"]*:)[^@\s/"]+@/gi, '$1***@');
}

/**
 * TEST RUNS ONLY: `TRADE_EXEC_UNSCRUBBED_LOGS=1` turns off the by-value scrubbing of known
 * secrets (step 2 above; key-name redaction and the pattern masks stay). With it on, a test that
 * greps the service's output for its API key and secret only tests the scrubber: it cannot fail.
 * With it off, the grep finds any code path that writes a secret into a line
 * (test/logs/secrets-and-logs.test.ts). Never set it for a service with real keys.
 */
export const UNSCRUBBED_LOGS_ENV = 'TRADE_EXEC_UNSCRUBBED_LOGS';

/** Wraps a destination so that every finished line is scrubbed before it is written. */
function scrubbingDestination(dest: DestinationStream): DestinationStream {
  // Honoured only under jest (NODE_ENV=test, inherited by the processes a test starts): a
  // production process with the variable set still scrubs.
  if (process.env[UNSCRUBBED_LOGS_ENV] === '1' && process.env.NODE_ENV === 'test') return { write: (line: string) => dest.write(maskPatterns(line)) };
  return { write: (line: string) => dest.write(scrubSecrets(line)) };
}

// ---------------------------------------------------------------------------------------------
// Trade context on activity log lines

type ActivityStore = { info: { workflowExecution: { workflowId: string }; activityType: string; attempt: number } };
let activityStorage: AsyncLocalStorage<ActivityStore> | undefined;
let activityModulePath: string | null | undefined;

/**
 * The running activity's context, if this line is logged inside one. @temporalio/activity is
 * never loaded from here: only when the worker has loaded it (require.cache) is its
 * AsyncLocalStorage consulted, so the CLI and the paper exchange pay nothing.
 */
function currentActivity(): ActivityStore | undefined {
  if (!activityStorage) {
    if (activityModulePath === undefined) {
      try {
        activityModulePath = require.resolve('@temporalio/activity');
      } catch {
        activityModulePath = null;
      }
    }
    const loaded = activityModulePath ? (require.cache?.[activityModulePath]?.exports as { asyncLocalStorage?: AsyncLocalStorage<ActivityStore> } | undefined) : undefined;
    if (!loaded?.asyncLocalStorage) return undefined;
    activityStorage = loaded.asyncLocalStorage;
  }
  return activityStorage.getStore();
}

/**
 * pino mixin, per line:
 *  - `component`: the logger's name unless a child logger (or the line) names its own component,
 *    so no line carries the key twice (pino writes base and child bindings side by side);
 *  - while an activity runs: its workflowId, decisionId, activity type and attempt, whichever
 *    logger wrote the line, unless the line or its logger already has them.
 */
function tradeContextMixin(name: string) {
  return (obj: object, _level: number, logger: Logger): Record<string, unknown> => {
    const bound = logger.bindings();
    const fields: Record<string, unknown> = {};
    if (!('component' in bound) && !('component' in obj)) fields.component = name;
    const store = currentActivity();
    if (store) {
      const workflowId = store.info.workflowExecution.workflowId;
      const candidates: Record<string, unknown> = { workflowId, activityType: store.info.activityType, attempt: store.info.attempt };
      const decision = DECISION_FROM_WORKFLOW.exec(workflowId);
      if (decision) candidates.decisionId = decision[1];
      for (const [k, v] of Object.entries(candidates)) if (!(k in obj) && !(k in bound)) fields[k] = v;
    }
    return fields;
  };
}

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name,
      level,
      mixin: tradeContextMixin(name),
      redact: { paths: redactPaths, censor: CENSOR },
      // `component` comes from the mixin (the name, or the child logger's own component).
      base: { service: 'trade-exec' },
      formatters: {
        // A `msg` field would be written next to pino's own message key (a duplicate JSON key,
        // which most log pipelines resolve by dropping one): keep it as `detail`.
        log: (obj: Record<string, unknown>) => {
          if (!('msg' in obj)) return obj;
          const { msg, ...rest } = obj;
          return 'detail' in rest ? { ...rest, msgField: msg } : { ...rest, detail: msg };
        },
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    scrubbingDestination(pino.destination({ dest: 1, sync: true })),
  );
}

/** Strips userinfo from connection URLs (postgres://user:pass@host) before they are printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

// ---------------------------------------------------------------------------------------------
// Temporal SDK logs through pino

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Workflow ids are `trade-<decision id>` (src/shared/decision.ts workflowIdFor). */
const DECISION_FROM_WORKFLOW = /^trade-(.+)$/;

/**
 * The SDK's metadata as pino fields: symbol keys (the SDK's nanosecond timestamp) are dropped,
 * bigints become strings, errors are serialised by pino's `err`, and every line that names a
 * trade's workflow also carries its decision id.
 */
export function temporalMetaToFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (!meta) return fields;
  for (const key of Object.keys(meta)) {
    const v = (meta as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (key === 'error' || key === 'failure') {
      fields.err = v;
      continue;
    }
    fields[key] = typeof v === 'bigint' ? v.toString() : v;
  }
  const wf = typeof fields.workflowId === 'string' ? DECISION_FROM_WORKFLOW.exec(fields.workflowId) : null;
  if (wf && fields.decisionId === undefined) fields.decisionId = wf[1];
  return fields;
}

/** A Temporal `Logger` that writes to a pino logger. */
export function temporalLoggerFor(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata): void => {
    const pinoLevel = PINO_LEVEL[level] ?? 'info';
    if (!logger.isLevelEnabled(pinoLevel)) return;
    logger[pinoLevel](temporalMetaToFields(meta), message);
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

export interface TemporalLoggingOptions {
  /** Level of Core's (Rust) logs forwarded into pino (default WARN). */
  coreLevel?: LogLevel;
}

let temporalLoggingInstalled = false;

/**
 * Routes the Temporal SDK's logs (worker, workflow and activity context loggers, Core) through
 * `logger`. Call once per process before any Worker or NativeConnection is created (the SDK's
 * Runtime is a singleton that is created on first use). Returns false, doing nothing, when the
 * Runtime already exists or this ran before.
 */
export function installTemporalLogging(logger: Logger, options: TemporalLoggingOptions = {}): boolean {
  if (temporalLoggingInstalled) return false;
  // Loaded here so that processes without a worker (CLI, paper exchange) never load the native module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Runtime, makeTelemetryFilterString } = require('@temporalio/worker') as typeof import('@temporalio/worker');
  try {
    Runtime.install({
      logger: temporalLoggerFor(logger),
      telemetryOptions: {
        logging: {
          filter: makeTelemetryFilterString({ core: options.coreLevel ?? 'WARN', other: 'ERROR' }),
          forward: {},
        },
      },
    });
  } catch (err) {
    if (/already been instantiated|already installed/i.test(String((err as Error)?.message))) return false;
    throw err;
  }
  temporalLoggingInstalled = true;
  return true;
}
