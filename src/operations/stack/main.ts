/**
 * `npm run stack`: the production topology on this machine (stack.ts): a real Temporal server on
 * PostgreSQL, its UI, Redis with an append-only file, the paper exchange unless real keys are
 * given, STACK_WORKERS workers and STACK_BRIDGES bridges. Prints "stack is ready" and every
 * address; Ctrl-C stops everything, bridges first.
 *
 * Environment: STACK_WORKERS (default 2), STACK_BRIDGES (default 2), STACK_PORTS (defaults, or
 * free: any free ports, all printed), DATA_DIR (default .data;
 * the stack keeps its state in DATA_DIR/stack), DATABASE_URL (external PostgreSQL), TEMPORAL_NAMESPACE,
 * and for real trading BINANCE_BASE_URL, BINANCE_WS_API_URL, BINANCE_API_KEY with
 * BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_PATH. Every other variable of README's
 * Configuration table reaches the workers and bridges unchanged.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { stopsChildrenOnSignals } from '../child-process';
import { SERVICE_ROLES } from './topology';
import { startStack, type RealExchange, type RunningStack } from './stack';

function countFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 32) {
    process.stderr.write(`trade-exec stack: ${name} must be a whole number from 0 to 32, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

/** STACK_PORTS: `defaults` (topology.ts: 7233, UI 8080, ...) or `free` (any free ones, printed). */
function portsFromEnv(): 'defaults' | 'free' {
  const raw = process.env.STACK_PORTS || 'defaults';
  if (raw === 'defaults' || raw === 'free') return raw;
  process.stderr.write(`trade-exec stack: STACK_PORTS must be defaults or free, got ${JSON.stringify(raw)}\n`);
  process.exit(2);
}

function realExchangeFromEnv(): RealExchange | undefined {
  const baseUrl = process.env.BINANCE_BASE_URL;
  if (!baseUrl) return undefined;
  const apiKey = process.env.BINANCE_API_KEY;
  if (!apiKey || (!process.env.BINANCE_API_SECRET && !process.env.BINANCE_PRIVATE_KEY_PATH)) {
    process.stderr.write('trade-exec stack: BINANCE_BASE_URL needs BINANCE_API_KEY and BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_PATH\n');
    process.exit(2);
  }
  return {
    baseUrl,
    wsApiUrl: process.env.BINANCE_WS_API_URL || undefined,
    apiKey,
    apiSecret: process.env.BINANCE_API_SECRET || undefined,
    privateKeyPath: process.env.BINANCE_PRIVATE_KEY_PATH || undefined,
  };
}

async function main(): Promise<void> {
  const say = (line: string) => process.stderr.write(`[stack] ${line}\n`);
  const workers = countFromEnv(SERVICE_ROLES.worker.countVariable, SERVICE_ROLES.worker.defaultCount);
  const bridges = countFromEnv(SERVICE_ROLES.bridge.countVariable, SERVICE_ROLES.bridge.defaultCount);
  const exchange = realExchangeFromEnv();
  let stack: RunningStack | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping (bridges, workers, UI, Temporal server, paper exchange, Redis, PostgreSQL)`);
    void (stack?.stop() ?? Promise.resolve()).then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A closed terminal: the relay passes SIGHUP on, and it must stop the stack like Ctrl-C.
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  stopsChildrenOnSignals();

  stack = await startStack({
    dataDir: path.join(process.env.DATA_DIR || '.data', 'stack'),
    workers,
    bridges,
    databaseUrl: process.env.DATABASE_URL || undefined,
    exchange,
    namespace: process.env.TEMPORAL_NAMESPACE || undefined,
    ports: portsFromEnv(),
    progress: say,
  });
  if (stopping) return;
  process.stdout.write(`${stack.banner().join('\n')}\n`);
}

/**
 * A terminal's Ctrl-C signals its whole foreground process group, and the embedded PostgreSQL is
 * spawned by its package in ours (not in a group of its own): it would shut down at once, while
 * the workers still finish their activities against it. So the stack runs in a process group of
 * its own, and this first process only relays the signals to it and exits with its code.
 */
function runInOwnProcessGroup(): void {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: 'inherit',
    env: { ...process.env, TRADE_EXEC_STACK_GROUP: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      try {
        child.kill(signal); // the stack's main process only: it stops the rest in order
      } catch {
        // already gone
      }
    });
  }
  child.once('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
}

if (process.env.TRADE_EXEC_STACK_GROUP !== '1') runInOwnProcessGroup();
else
main().catch((err) => {
  process.stderr.write(`trade-exec stack: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
