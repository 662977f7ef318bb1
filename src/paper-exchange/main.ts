/**
 * Runs the paper exchange standalone: `npm run exchange` (tsx src/paper-exchange/main.ts).
 *
 * Environment:
 *   PAPER_EXCHANGE_PORT   port to listen on (default 8090; 0 = any free port)
 *   PAPER_EXCHANGE_HOST   default 127.0.0.1
 *   PAPER_SEED            price walk seed (default 1)
 *   PAPER_PRICE_STEP_MS   price walk step, 0 = prices move only via POST /admin/price (default 1000)
 *   PAPER_KLINES          SYMBOL=path[,SYMBOL=path]: replay kline closes instead of walking
 *   PAPER_API_KEY / PAPER_API_SECRET   account credentials (default: the documented test pair)
 *   PAPER_MAX_OPEN_ORDERS   open orders per account, EXCHANGE_MAX_NUM_ORDERS (default 1000, Binance's)
 *   PAPER_MAX_NUM_ORDERS    MAX_NUM_ORDERS for every symbol (default: each symbol's, 200)
 *   PAPER_RATE_LIMITS     "binance" (default: Binance's own, 100 orders/10 s, 6000 weight/min, ...) or
 *                         "raised" (every limit 100,000,000: a benchmark of the service, not of them)
 *   PAPER_ADMIN_TOKEN     token /admin/* requires (Authorization: Bearer <token>), at least 16
 *                         characters; required when PAPER_EXCHANGE_HOST is not loopback (the
 *                         exchange refuses to start without it), always enforced when set
 *
 * It prints the URLs and the API key id; the secret is never printed.
 */
import { createLogger } from '../logging';
import { checkAdminBinding, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange } from './index';
import { PAPER_RATE_LIMITS } from './limits';

/** PAPER_RATE_LIMITS: Binance's limits, or each raised so high that only the client's own pace counts. */
function rateLimitsEnv(): typeof PAPER_RATE_LIMITS {
  const raw = process.env.PAPER_RATE_LIMITS || 'binance';
  if (raw === 'binance') return PAPER_RATE_LIMITS;
  if (raw === 'raised') return PAPER_RATE_LIMITS.map((l) => ({ ...l, limit: 100_000_000 }));
  throw new Error(`PAPER_RATE_LIMITS must be binance or raised, got ${JSON.stringify(raw)}`);
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function optionalIntEnv(name: string): number | undefined {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? undefined : intEnv(name, 0);
}

function klineEnv(): Record<string, string> | undefined {
  const raw = process.env.PAPER_KLINES;
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const [symbol, path] = part.split('=');
    if (!symbol || !path) throw new Error(`PAPER_KLINES entries must be SYMBOL=path, got ${JSON.stringify(part)}`);
    out[symbol.trim()] = path.trim();
  }
  return out;
}

async function main(): Promise<void> {
  const logger = createLogger('paper-exchange');
  const apiKey = process.env.PAPER_API_KEY ?? PAPER_DEFAULT_API_KEY;
  const apiSecret = process.env.PAPER_API_SECRET ?? PAPER_DEFAULT_API_SECRET;
  const klineFiles = klineEnv();
  const maxOpenOrdersPerAccount = optionalIntEnv('PAPER_MAX_OPEN_ORDERS');
  const maxNumOrdersPerSymbol = optionalIntEnv('PAPER_MAX_NUM_ORDERS');
  const host = process.env.PAPER_EXCHANGE_HOST ?? '127.0.0.1';
  const adminToken = process.env.PAPER_ADMIN_TOKEN === undefined || process.env.PAPER_ADMIN_TOKEN === '' ? undefined : process.env.PAPER_ADMIN_TOKEN;
  // Checked before anything listens, so a misconfigured container exits at once with the reason.
  checkAdminBinding(host, adminToken);
  const ex = await startPaperExchange({
    port: intEnv('PAPER_EXCHANGE_PORT', 8090),
    host,
    ...(adminToken !== undefined ? { adminToken } : {}),
    seed: intEnv('PAPER_SEED', 1),
    rateLimits: rateLimitsEnv(),
    priceStepMs: intEnv('PAPER_PRICE_STEP_MS', 1000),
    accounts: [{ apiKey, apiSecret }],
    logger,
    ...(klineFiles ? { klineFiles } : {}),
    limits: {
      ...(maxOpenOrdersPerAccount !== undefined ? { maxOpenOrdersPerAccount } : {}),
      ...(maxNumOrdersPerSymbol !== undefined ? { maxNumOrdersPerSymbol } : {}),
    },
  });
  const secretNote = process.env.PAPER_API_SECRET ? 'from PAPER_API_SECRET' : 'PAPER_DEFAULT_API_SECRET in src/paper-exchange/index.ts';
  // Plain stdout so scripts can read it; the logger would redact the key id.
  process.stdout.write(
    [
      `paper exchange listening`,
      `  REST:    ${ex.url}`,
      `  WS API:  ${ex.wsUrl}`,
      `  admin:   ${ex.url}/admin/faults  ${ex.url}/admin/price  ${ex.url}/admin/fill  ${ex.url}/admin/state  (${adminToken !== undefined ? 'token required: Authorization: Bearer $PAPER_ADMIN_TOKEN' : 'no token: loopback only'})`,
      `  API key: ${apiKey}`,
      `  secret:  (not printed; ${secretNote})`,
      '',
    ].join('\n'),
  );
  let closing = false;
  const stop = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    ex.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`paper exchange failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
