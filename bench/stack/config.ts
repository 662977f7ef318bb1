/** The stack bench's settings (BENCH_* environment variables, see bench/stack-bench.ts) and run-wide helpers. */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../../src/config';

const num = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);
export const CFG = {
  latencyN: num('BENCH_LATENCY_N', 100),
  latencyRate: num('BENCH_LATENCY_RATE', 5),
  rates: (process.env.BENCH_RATES ?? '5,10,20,40').split(',').map(Number),
  stepS: num('BENCH_STEP_S', 15),
  limitN: num('BENCH_LIMIT_N', 20),
  limitRestS: num('BENCH_LIMIT_REST_S', 60),
  resting: num('BENCH_RESTING', 5000),
  restingSteps: (process.env.BENCH_RESTING_STEPS ?? '0.2,0.5,1').split(',').map(Number),
  restingRate: num('BENCH_RESTING_RATE', 100),
  settleS: num('BENCH_SETTLE_S', 60),
  stallS: num('BENCH_STALL_S', 180),
  drainS: num('BENCH_DRAIN_S', 90),
  burstN: num('BENCH_BURST_N', 100),
};
export const ALL_PHASES = ['latency', 'baseline', 'burst', 'throughput', 'limit', 'memory'] as const;
export type Phase = (typeof ALL_PHASES)[number];
export const PHASES: Set<Phase> = (() => {
  const raw = (process.env.BENCH_PHASES ?? 'all').trim();
  if (raw === '' || raw === 'all') return new Set(ALL_PHASES);
  const names = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.filter((n) => !(ALL_PHASES as readonly string[]).includes(n));
  if (bad.length) throw new Error(`BENCH_PHASES: unknown phase ${bad.join(', ')}; known: ${ALL_PHASES.join(',')} (or all)`);
  return new Set(names as Phase[]);
})();
/** Binance's own rate limits on the paper exchange, or raised so that the service is what is measured. */
export const EXCHANGE_LIMITS: 'binance' | 'raised' = (() => {
  const raw = process.env.BENCH_EXCHANGE_LIMITS ?? ([...PHASES].every((p) => p === 'burst') ? 'binance' : 'raised');
  if (raw !== 'binance' && raw !== 'raised') throw new Error(`BENCH_EXCHANGE_LIMITS: ${raw}; binance or raised`);
  return raw;
})();
/** Open-order limits for the bench's paper account: far above BENCH_RESTING. */
export const OPEN_ORDER_LIMIT = Math.max(100_000, CFG.resting * 2);
/** The worker caches at most this many workflows (src/worker/worker.ts maxCachedWorkflows). */
export const MAX_CACHED_WORKFLOWS = Number(process.env.TEMPORAL_MAX_CACHED_WORKFLOWS ?? DEFAULT_MAX_CACHED_WORKFLOWS);
export const RUN = randomBytes(3).toString('hex');
const t0Bench = Date.now();
export const say = (line: string) => process.stdout.write(`[bench +${((Date.now() - t0Bench) / 1000).toFixed(0)}s] ${line}\n`);
/** 1-minute load average per phase: other processes on the machine skew every figure. */
export const load: Record<string, number> = {};
export const markLoad = (phase: string) => void (load[phase] = Math.round(os.loadavg()[0]! * 100) / 100);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const idMs = (streamId: string) => Number(streamId.split('-')[0]);
export const round2 = (x: number) => Math.round(x * 100) / 100;

/** How the run was started, for the report. */
export function commandLine(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'npm run bench'].join(' ');
}

/** The latency measures this run's service had (see README "Benchmarks"). */
export function latencyFeatures(): Record<string, string | boolean> {
  const eagerStart = !['false', '0'].includes(process.env.TEMPORAL_EAGER_START ?? 'true');
  const orderQueue = process.env.TEMPORAL_ORDER_TASK_QUEUE ?? 'none';
  return {
    'eager workflow start (bridge and worker in one process)': eagerStart,
    'eager activity dispatch (server dynamic config)': true,
    'order-sending activities on a dedicated task queue': orderQueue === 'none' ? false : orderQueue,
    'bookkeeping and validation as local activities': true,
    'worker tuning': `maxCachedWorkflows ${MAX_CACHED_WORKFLOWS}, 100 workflow / 200 activity slots; order queue 50 slots`,
  };
}
