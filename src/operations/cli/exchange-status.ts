/** `exchange status`: reachability, clock offset and rate-limit usage through the service's exchange client. */
import type { CliContext } from './context';
import { CliError, describeError } from './errors';
import { table } from './format';

export async function exchangeStatus(ctx: CliContext, o: { account: boolean }): Promise<void> {
  const exchange = await ctx.exchange();
  const baseUrl = ctx.cfg().BINANCE_BASE_URL!;
  const t0 = performance.now();
  let offsetMs: number;
  try {
    ({ offsetMs } = await exchange.syncTime());
  } catch (err) {
    throw new CliError(`exchange at ${baseUrl} (BINANCE_BASE_URL) does not answer: ${describeError(err)}`);
  }
  const roundTripMs = Math.round((performance.now() - t0) * 10) / 10;
  const info = await exchange.cachedExchangeInfo().catch((err: unknown) => {
    throw new CliError(`exchangeInfo failed: ${describeError(err)}`);
  });
  let account: { canTrade: boolean; accountType?: string; permissions?: string[]; nonZeroBalances: number } | { error: string } | null = null;
  if (o.account && ctx.hasExchangeKeys()) {
    try {
      const a = await exchange.account();
      account = {
        canTrade: a.canTrade,
        accountType: (a as { accountType?: string }).accountType,
        permissions: (a as { permissions?: string[] }).permissions,
        nonZeroBalances: a.balances.filter((b) => Number(b.free) + Number(b.locked) > 0).length,
      };
    } catch (err) {
      account = { error: describeError(err) };
    }
  }
  const usage = exchange.usage();
  const result = {
    baseUrl,
    reachable: true,
    roundTripMs,
    clockOffsetMs: offsetMs,
    clockOffsetClientMs: exchange.timeOffsetMs(),
    symbols: info.symbols.length,
    keys: ctx.hasExchangeKeys() ? 'configured' : 'none',
    account,
    usedWeight1m: usage.usedWeight1m ?? null,
    orderCount10s: usage.orderCount10s ?? null,
    orderCount1d: usage.orderCount1d ?? null,
    bannedUntil: usage.bannedUntil ?? null,
    budget: usage.budget.map((b) => ({ type: b.rateLimitType, interval: `${b.intervalNum} ${b.interval}`, used: b.used, limit: b.limit })),
    rateLimits: info.rateLimits,
  };
  if (ctx.output.json) {
    ctx.output.out(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const lines = [
    `exchange     ${baseUrl}  (reachable, ${roundTripMs} ms round trip, ${info.symbols.length} symbols)`,
    `clock        exchange - local = ${offsetMs} ms${Math.abs(offsetMs) > 1000 ? '  (large: check NTP on this machine)' : ''}`,
    `keys         ${result.keys}`,
  ];
  if (account && 'error' in account) lines.push(`account      ERROR ${account.error}`);
  else if (account) lines.push(`account      canTrade=${account.canTrade}  ${account.accountType ?? ''}  ${account.nonZeroBalances} non-zero balances`.trimEnd());
  lines.push(`banned until ${usage.bannedUntil ? new Date(usage.bannedUntil).toISOString() : '-'}`);
  lines.push('', 'rate limits (this client\'s view; the exchange\'s X-MBX-* headers where seen)');
  lines.push(
    table(
      ['TYPE', 'INTERVAL', 'USED', 'LIMIT', 'USED %'],
      usage.budget.map((b) => [
        b.rateLimitType,
        `${b.intervalNum} ${b.interval}`,
        String(b.used),
        String(b.limit),
        b.limit > 0 ? `${((100 * b.used) / b.limit).toFixed(1)}%` : '-',
      ]),
    ),
  );
  ctx.output.out(lines.join('\n') + '\n');
}
