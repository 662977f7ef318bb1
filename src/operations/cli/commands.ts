/**
 * The command table: each command's options (node:util parseArgs), its help text, and its
 * handler. cli.ts dispatches; everything a command needs comes from CliContext.
 */
import type { ParseArgsConfig } from 'node:util';
import { ORDER_TYPES } from '../../shared/decision';
import type { CliContext } from './context';
import { usageError } from './errors';
import { RISK_DECISIONS_STREAM } from '../../shared/streams';
import { TRADE_STATUSES } from '../../shared/trade';

// Handlers are loaded when their command runs: the Temporal client alone takes over a second to
// load, and `send`, `portfolio`, `exchange` and every --help do without it.
/* eslint-disable @typescript-eslint/no-require-imports */
const trades = () => require('./trades') as typeof import('./trades');
const sendModule = () => require('./send') as typeof import('./send');
const portfolioModule = () => require('./portfolio') as typeof import('./portfolio');
const exchangeModule = () => require('./exchange-status') as typeof import('./exchange-status');
const healthModule = () => require('./health') as typeof import('./health');
const haltModule = () => require('./halt') as typeof import('./halt');

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  name: string;
  aliases?: string[];
  summary: string;
  usage: string;
  /** Lines after the usage: what it does, options, examples. */
  help: string;
  options: Options;
  run(ctx: CliContext, values: Values, positionals: string[]): Promise<void>;
}

export const GLOBAL_OPTIONS: Options = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
};

const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
const bool = (v: Values, k: string): boolean => v[k] === true;
function int(v: Values, k: string, def: number, min = 1): number {
  const raw = str(v, k);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw usageError(`--${k} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}
function noExtraPositionals(name: string, positionals: string[], max: number): void {
  if (positionals.length > max) throw usageError(`${name}: unexpected argument ${JSON.stringify(positionals[max])}`);
}

const TRADE_ARG = `TRADE is the workflow id (trade-<decision id>) or the decision id.`;

export const COMMANDS: Command[] = [
  {
    name: 'send',
    summary: 'publish a test risk decision on risk_decisions (XADD)',
    usage: 'trade-exec send [--symbol BTCUSDT] [--side BUY|SELL] [--qty 0.001] [--type MARKET|LIMIT|...] [--price P] [options]',
    help: `Builds an approved risk decision, checks it with the service's own schema, and XADDs it to
${RISK_DECISIONS_STREAM} as the risk engine would. The bridge turns it into a TradeExecution workflow.
With DECISION_SIGNING_KEY set, the entry carries a sig field (HMAC-SHA256 of the data field, hex).

Options:
  --id ID                 decision id (default cli-<time>-<random>); the workflow is trade-ID
  --symbol SYMBOL         default BTCUSDT
  --side BUY|SELL         default BUY
  --qty QTY               approved size in the base asset, default 0.001
  --type TYPE             ${ORDER_TYPES.join(', ')} (default MARKET)
  --price P               limit price (LIMIT, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT)
  --stop-price P          stop price (STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT, OCO stop leg)
  --stop-limit-price P    OCO stop leg limit price
  --take-profit-price P   OCO take-profit leg price
  --stop-loss P           bracket: protective stop after the entry fills
  --take-profit P         bracket: take-profit after the entry fills
  --tif GTC|IOC|FOK       time in force
  --timeout-ms MS         cancel what is left of the entry after MS (default: ORDER_TIMEOUT_MS)
  --reject                send a rejected decision (recorded, nothing executed)
  --reason TEXT           a reason (repeatable)
  --raw JSON              send this decision object instead of building one
  --skip-validation       send even if the schema rejects it (to exercise the dead-letter path)
  --stream NAME           default ${RISK_DECISIONS_STREAM}
  --wait                  wait for the execution report on trade_executions (progress on stderr);
                          exit 1 if the trade did not succeed, 4 on timeout
  --wait-timeout-ms MS    default 120000

Examples:
  trade-exec send --side BUY --qty 0.001 --wait
  trade-exec send --type LIMIT --price 20000 --qty 0.002 --timeout-ms 3600000`,
    options: {
      id: { type: 'string' },
      symbol: { type: 'string' },
      side: { type: 'string' },
      qty: { type: 'string' },
      type: { type: 'string' },
      price: { type: 'string' },
      'stop-price': { type: 'string' },
      'stop-limit-price': { type: 'string' },
      'take-profit-price': { type: 'string' },
      'stop-loss': { type: 'string' },
      'take-profit': { type: 'string' },
      tif: { type: 'string' },
      'timeout-ms': { type: 'string' },
      reject: { type: 'boolean' },
      reason: { type: 'string', multiple: true },
      raw: { type: 'string' },
      'skip-validation': { type: 'boolean' },
      stream: { type: 'string' },
      wait: { type: 'boolean' },
      'wait-timeout-ms': { type: 'string' },
    },
    run: (ctx, v, p) => {
      noExtraPositionals('send', p, 0);
      return sendModule().sendDecision(ctx, {
        id: str(v, 'id'),
        symbol: str(v, 'symbol') ?? 'BTCUSDT',
        side: str(v, 'side') ?? 'BUY',
        qty: str(v, 'qty') ?? '0.001',
        type: str(v, 'type') ?? 'MARKET',
        price: str(v, 'price'),
        stopPrice: str(v, 'stop-price'),
        stopLimitPrice: str(v, 'stop-limit-price'),
        takeProfitPrice: str(v, 'take-profit-price'),
        stopLoss: str(v, 'stop-loss'),
        takeProfit: str(v, 'take-profit'),
        tif: str(v, 'tif'),
        timeoutMs: str(v, 'timeout-ms'),
        reject: bool(v, 'reject'),
        reason: (v.reason as string[] | undefined) ?? [],
        raw: str(v, 'raw'),
        skipValidation: bool(v, 'skip-validation'),
        wait: bool(v, 'wait'),
        waitMs: int(v, 'wait-timeout-ms', 120_000),
        stream: str(v, 'stream') ?? RISK_DECISIONS_STREAM,
      });
    },
  },
  {
    name: 'list',
    aliases: ['ls'],
    summary: 'list in-flight trades (Temporal visibility; filter by symbol, side, status)',
    usage: 'trade-exec list [--symbol S] [--side BUY|SELL] [--status STATUS] [--type TYPE] [--all] [--limit N]',
    help: `Lists TradeExecution workflows on this service's task queue (TEMPORAL_TASK_QUEUE) by their
search attributes. Only running ones unless --all. The query it runs is printed with --json and
can be pasted into the Temporal UI's filter.

Options:
  --symbol SYMBOL    TradeSymbol, e.g. BTCUSDT
  --side BUY|SELL    TradeSide
  --status STATUS    TradeStatus: ${TRADE_STATUSES.join(', ')}
  --type TYPE        TradeOrderType, e.g. LIMIT
  --all              include closed trades
  --limit N          at most N rows (default 100)

Example:
  trade-exec list --symbol BTCUSDT --side BUY --status working`,
    options: {
      symbol: { type: 'string' },
      side: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      all: { type: 'boolean' },
      limit: { type: 'string' },
    },
    run: (ctx, v, p) => {
      noExtraPositionals('list', p, 0);
      return trades().listTrades(ctx, {
        symbol: str(v, 'symbol'),
        side: str(v, 'side'),
        status: str(v, 'status'),
        type: str(v, 'type'),
        all: bool(v, 'all'),
        limit: int(v, 'limit', 100),
      });
    },
  },
  {
    name: 'show',
    aliases: ['state'],
    summary: "show one trade's live state (getState query)",
    usage: 'trade-exec show TRADE',
    help: `Queries the workflow's getState: orders, exchange status, fills, operator requests.
A finished trade shows its final state. ${TRADE_ARG}`,
    options: {},
    run: (ctx, _v, p) => {
      noExtraPositionals('show', p, 1);
      return trades().showTrade(ctx, p[0]);
    },
  },
  {
    name: 'cancel',
    summary: 'cancel a trade\'s working orders (cancel update), or the workflow itself (--workflow)',
    usage: 'trade-exec cancel TRADE [--reason TEXT] | trade-exec cancel TRADE --workflow [--no-wait]',
    help: `Without --workflow: sends the cancel update; it returns once the exchange has confirmed the
cancellation, and the trade then finishes as cancelled (or partially filled).
With --workflow: requests cancellation of the Temporal workflow (like the UI's "Request
Cancellation"): it cancels its orders on the exchange and closes; waits for that unless --no-wait.
${TRADE_ARG}

Options:
  --reason TEXT          recorded with the request
  --workflow             cancel the workflow instead of sending the update
  --no-wait              with --workflow: return once the request is accepted
  --wait-timeout-ms MS   with --workflow: how long to wait for it to close (default 60000)`,
    options: {
      reason: { type: 'string' },
      workflow: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'wait-timeout-ms': { type: 'string' },
    },
    run: (ctx, v, p) => {
      noExtraPositionals('cancel', p, 1);
      if (bool(v, 'workflow')) return trades().cancelWorkflow(ctx, p[0], !bool(v, 'no-wait'), int(v, 'wait-timeout-ms', 60_000));
      return trades().cancelTrade(ctx, p[0], str(v, 'reason'));
    },
  },
  {
    name: 'amend',
    summary: 'change the price and/or quantity of a working order (amend update, cancel-replace)',
    usage: 'trade-exec amend TRADE [--price P] [--quantity Q]',
    help: `Cancel-replaces the working order with a new limit price and/or total quantity (never above
the approved size). Returns once the replacement is on the exchange. ${TRADE_ARG}

Options:
  --price P      new limit price
  --quantity Q   new total quantity of the entry (what is already filled counts)`,
    options: { price: { type: 'string' }, quantity: { type: 'string' } },
    run: (ctx, v, p) => {
      noExtraPositionals('amend', p, 1);
      return trades().amendTrade(ctx, p[0], str(v, 'price'), str(v, 'quantity'));
    },
  },
  {
    name: 'close',
    aliases: ['close-now'],
    summary: 'close at market now (closeNow update: cancel what rests, trade the rest at market)',
    usage: 'trade-exec close TRADE',
    help: `Cancels the working order and sends a MARKET order for what is left of the target quantity.
${TRADE_ARG}`,
    options: {},
    run: (ctx, _v, p) => {
      noExtraPositionals('close', p, 1);
      return trades().closeTrade(ctx, p[0]);
    },
  },
  {
    name: 'set-timeout',
    summary: "move a trade's entry deadline (setTimeout update)",
    usage: 'trade-exec set-timeout TRADE MS',
    help: `Sets the entry deadline to MS milliseconds after the trade started; what is left then is
cancelled. ${TRADE_ARG}`,
    options: {},
    run: (ctx, _v, p) => {
      noExtraPositionals('set-timeout', p, 2);
      return trades().setTradeTimeout(ctx, p[0], p[1]);
    },
  },
  {
    name: 'portfolio',
    aliases: ['pnl'],
    summary: 'portfolio and PnL report from Postgres (table, or JSON with --json)',
    usage: 'trade-exec portfolio [--valuation USDT] [--no-marks] [--refresh]',
    help: `Positions, realized and unrealized PnL, exposure, fees, win rate and balances, from the
service's database (DATABASE_URL). Mark prices are the exchange's last prices (BINANCE_BASE_URL,
public endpoint); without them unrealized PnL is left out and said so.

Options:
  --valuation ASSET   value balances in ASSET (default USDT)
  --no-marks          do not ask the exchange for prices
  --refresh           read the account's balances from the exchange first and save them (needs keys)`,
    options: { valuation: { type: 'string' }, 'no-marks': { type: 'boolean' }, refresh: { type: 'boolean' } },
    run: (ctx, v, p) => {
      noExtraPositionals('portfolio', p, 0);
      return portfolioModule().portfolio(ctx, { valuation: str(v, 'valuation') ?? 'USDT', marks: !bool(v, 'no-marks'), refresh: bool(v, 'refresh') });
    },
  },
  {
    name: 'exchange',
    aliases: ['exchange-status'],
    summary: 'exchange status: reachability, clock offset, rate-limit usage (exchange status)',
    usage: 'trade-exec exchange status [--no-account]',
    help: `Talks to BINANCE_BASE_URL through the service's exchange client: server time and the clock
offset, exchangeInfo's rate limits and what this client has used of them (weight per minute,
orders per 10 s and per day, any ban), and, when keys are set, whether the account can trade.

Options:
  --no-account   skip the account call (weight 20)`,
    options: { 'no-account': { type: 'boolean' } },
    run: (ctx, v, p) => {
      if (p.length > 0 && p[0] !== 'status') throw usageError(`exchange: unknown subcommand ${JSON.stringify(p[0])} (try: trade-exec exchange status)`);
      noExtraPositionals('exchange', p, 1);
      return exchangeModule().exchangeStatus(ctx, { account: !bool(v, 'no-account') });
    },
  },
  {
    name: 'halt',
    summary: 'kill switch: refuse every new decision (recorded, dead-lettered); --cancel-open cancels running trades',
    usage: 'trade-exec halt [--reason TEXT] [--cancel-open] [--by NAME]',
    help: `Sets the kill switch in PostgreSQL (DATABASE_URL; table trading_halt, every change kept in
trading_halt_log). From then on every bridge records each new approve/modify decision in the
decisions table with refused_rule 'halted' and moves it to risk_decisions:dead (replay it after
resume to execute it); rejections are still recorded. Trades already started go on, unless:

Options:
  --reason TEXT    why (stored, shown in every refusal), default "halted with trade-exec halt"
  --cancel-open    also send the cancel update to every running trade on TEMPORAL_TASK_QUEUE (its
                   open orders are cancelled on the exchange); trades with no open order yet are
                   asked again a few times; exit 1 if any could not be cancelled
  --by NAME        who halted (default user@host)

Examples:
  trade-exec halt --reason "exchange incident" --cancel-open
  trade-exec resume`,
    options: { reason: { type: 'string' }, 'cancel-open': { type: 'boolean' }, by: { type: 'string' } },
    run: (ctx, v, p) => {
      noExtraPositionals('halt', p, 0);
      return haltModule().halt(ctx, { reason: str(v, 'reason'), by: str(v, 'by'), cancelOpen: bool(v, 'cancel-open') });
    },
  },
  {
    name: 'resume',
    summary: 'lift the kill switch: new decisions execute again',
    usage: 'trade-exec resume [--by NAME]',
    help: `Clears the kill switch (DATABASE_URL). Decisions refused while halted are not replayed: they stay
on risk_decisions:dead with dead_rule halted.

Options:
  --by NAME   who resumed (default user@host)`,
    options: { by: { type: 'string' } },
    run: (ctx, v, p) => {
      noExtraPositionals('resume', p, 0);
      return haltModule().resume(ctx, { by: str(v, 'by') });
    },
  },
  {
    name: 'health',
    summary: 'check Temporal, Postgres, Redis and the exchange are reachable (exit 1 if not)',
    usage: 'trade-exec health [--pollers]',
    help: `Checks the Temporal namespace, and each of Postgres, Redis and the exchange that is configured
(DATABASE_URL, REDIS_URL, BINANCE_BASE_URL). docker-compose.yml runs it as the health check of
the worker (with --pollers) and the bridge.

Options:
  --pollers   also require a worker polling TEMPORAL_TASK_QUEUE`,
    options: { pollers: { type: 'boolean' } },
    run: (ctx, v, p) => {
      noExtraPositionals('health', p, 0);
      return healthModule().health(ctx, { pollers: bool(v, 'pollers') });
    },
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

export const ENVIRONMENT_HELP = `Environment (the same variables as the service, see .env.example):
  TEMPORAL_ADDRESS      Temporal frontend host:port (default ${'127.0.0.1:7233'})
  TEMPORAL_NAMESPACE    default "default"
  TEMPORAL_TASK_QUEUE   the service's task queue (default trading-execution); list shows only it
  REDIS_URL             default redis://127.0.0.1:6379 (send); redis://user:password@host:port, rediss:// for TLS
  DATABASE_URL          postgres://... (portfolio, halt, resume)
  DECISION_SIGNING_KEY  when set, send signs each decision (sig field, HMAC-SHA256 of data)
  BINANCE_BASE_URL      exchange REST base URL (exchange status, portfolio marks)
  BINANCE_API_KEY, BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_PATH, BINANCE_RECV_WINDOW`;

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `trade-exec: operate the trade execution service

Usage: trade-exec COMMAND [options]      (or: npm run cli -- COMMAND [options])

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  help for a command: trade-exec help COMMAND (or COMMAND --help)

Global options:
  --json       machine-readable output: one JSON document on stdout; errors as {"error":...} on stderr
  -q, --quiet  no progress lines on stderr
  -h, --help   this help

Exit codes: 0 ok, 1 operation failed, 2 usage or configuration error, 3 trade not found,
4 a --wait timed out.

${ENVIRONMENT_HELP}
`;
}

export function commandHelp(c: Command): string {
  return `Usage: ${c.usage}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n\n${c.help}\n\nGlobal options: --json, -q/--quiet, -h/--help.\n\n${ENVIRONMENT_HELP}\n`;
}
