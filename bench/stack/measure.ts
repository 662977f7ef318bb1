/** What the stack bench measures with: percentiles, the exchange's request cost, and the processes' memory and CPU from /proc. */
import fs from 'node:fs';
import path from 'node:path';
import { Params } from '../../src/paper-exchange/params';
import { freeWhenSuccessful } from '../../src/paper-exchange/limits';
import { buildRoutes } from '../../src/paper-exchange/routes';

export interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}
export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: pct(50), p90: pct(90), p99: pct(99), max: s[s.length - 1] ?? NaN, mean: Math.round((s.reduce((a, b) => a + b, 0) / (s.length || 1)) * 10) / 10 };
}

/**
 * Weight of the requests the paper exchange counted, by its own route table and Binance's rule
 * since 2026-04-02 that a successful order request (place, cancel, cancel-replace, order list)
 * costs 0: the service's order requests here succeed, so they are counted at 0.
 */
const ROUTES = buildRoutes();
export function requestCost(before: Record<string, number>, after: Record<string, number>) {
  const byEndpoint: Record<string, number> = {};
  let requests = 0;
  let weight = 0;
  for (const [k, v] of Object.entries(after)) {
    const n = v - (before[k] ?? 0);
    if (n <= 0) continue;
    byEndpoint[k] = n;
    requests += n;
    // Representative parameters: per-symbol queries (the service always names the symbol).
    if (freeWhenSuccessful(k, undefined)) continue;
    weight += n * (ROUTES.get(k)?.weight(new Params('symbol=BTCUSDT&orderId=1&origClientOrderId=x', '')) ?? 1);
  }
  return { requests, weight, byEndpoint };
}

export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** The postmaster (first line of postmaster.pid) and every process it started: PostgreSQL's CPU. */
export function postgresCpuSeconds(dataDir: string): number {
  const master = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = cpuSeconds(master);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) total += cpuSeconds(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
