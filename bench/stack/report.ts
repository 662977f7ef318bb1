/** The stack bench's report: bench/results/stack-bench-<time>.{json,md} and the latest, stack-bench.{json,md}. */
import fs from 'node:fs';
import path from 'node:path';
import { ALL_PHASES, round2, say, type Phase } from './config';
import type { Stats } from './measure';


/**
 * The latest results of the earlier layout (one run, every phase) in this layout (one section per
 * phase, each with its run's time), so a partial run can keep the phases it did not run.
 */
function sectionsOf(prev: Record<string, any>): Record<string, any> {
  if (prev.phasesRun) return Object.fromEntries(ALL_PHASES.filter((p) => prev[p]).map((p) => [p, { ...prev[p], when: prev[p].when ?? prev.when }]));
  const out: Record<string, any> = {};
  const l = prev.loadAverage1m ?? {};
  if (prev.latencyMarket?.stack) {
    out.latency = { when: prev.when, load1m: l.latency, n: prev.sizes?.latencyN, rate: prev.sizes?.latencyRate, stack: prev.latencyMarket.stack, cost: prev.exchangeCost?.market };
    out.baseline = { when: prev.when, load1m: l.baseline, n: prev.sizes?.latencyN, rate: prev.sizes?.latencyRate, ...prev.latencyMarket.baseline };
  }
  if (prev.throughput) out.throughput = { when: prev.when, load1m: l[`throughput-${prev.throughput.steps?.at(-1)?.offered}`], stepS: prev.sizes?.stepS, ...prev.throughput };
  if (prev.exchangeCost?.limitRested) out.limit = { when: prev.when, load1m: l.limit, ...prev.exchangeCost.limitRested };
  // Its memory section was capped at 990 orders and extrapolated; not carried over.
  return out;
}

function renderMarkdown(r: Record<string, any>): string {
  const row = (name: string, s: Stats) => `| ${name} | ${s.n} | ${s.p50} | ${s.p90} | ${s.p99} | ${s.max} |`;
  const from = (sec: Record<string, any>, phase: Phase) =>
    `${r.phasesRun.includes(phase) ? 'This run' : `From the run of ${sec.when}`}; 1-minute load average at the end of the phase: ${sec.load1m ?? '?'}.`;
  const md = [
    `# Stack benchmark (${r.when})`,
    '',
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memGb} GiB, Node ${r.machine.node}. ${r.note}`,
    `Command: \`${r.command}\`; phases run: ${r.phasesRun.join(', ')}. Sizes: \`${JSON.stringify(r.sizes)}\`.`,
    `1-minute load average before the stack and at the end of each phase (2.0 = both cores busy; anything else running on the machine counts): \`${JSON.stringify(r.loadAverage1m)}\`.`,
    `Paper exchange: rate limits ${r.paperExchange.rateLimits}; open-order limits ${r.paperExchange.openOrderLimits}.`,
    `Latency measures in effect: ${r.features ? Object.entries(r.features).map(([k, v]) => `${k} ${String(v)}`).join('; ') : 'not recorded'}.`,
  ];
  const L = r.latency;
  const B = r.baseline;
  if (L || B) {
    md.push('', `## Latency, MARKET orders at ${(L ?? B).rate}/s (ms)`, '', '| path | n | p50 | p90 | p99 | max |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    if (L) md.push(row('XADD → order accepted by the exchange', L.stack.accepted), row('XADD → execution report on trade_executions', L.stack.report));
    if (B) md.push(row('baseline: client call → order accepted', B.accepted), row('baseline: client call → response', B.response));
    md.push('');
    if (L && B) md.push(`Ratio (p50, stack / baseline): to accepted ${round2(L.stack.accepted.p50 / Math.max(1, B.accepted.p50))}×, to report vs response ${round2(L.stack.report.p50 / Math.max(1, B.response.p50))}×.`);
    if (L) md.push(`Lost: ${L.stack.lost}. Stack: ${from(L, 'latency')}`);
    if (L?.cpuPerTradeMs) md.push(`CPU ms per trade over the latency phase: \`${JSON.stringify(L.cpuPerTradeMs)}\`.`);
    if (B) md.push(`Baseline: ${from(B, 'baseline')}`);
  }
  const T = r.throughput;
  if (T) {
    md.push(
      '',
      `## Throughput (MARKET, ${T.stepS} s per step)`,
      '',
      from(T, 'throughput'),
      '',
      '| offered /s | sent | completed | lost | achieved /s | report p50 | p90 | p99 | max | CPU ms per trade: service / Temporal / PostgreSQL / Redis / driver+paper |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...T.steps.map(
        (s: any) =>
          `| ${s.offered} | ${s.sent} | ${s.completed} | ${s.lost} | ${s.achieved} | ${s.report.p50} | ${s.report.p90} | ${s.report.p99} | ${s.report.max} | ${s.cpuPerTradeMs ? [s.cpuPerTradeMs.service, s.cpuPerTradeMs.temporal, s.cpuPerTradeMs.postgres, s.cpuPerTradeMs.redis, s.cpuPerTradeMs.driverAndPaperExchange].join(' / ') : '–'} |`,
      ),
      '',
      `Sustained with nothing lost: ${T.sustainedPerS} decisions/s. p99 climbs (> 2× the first step's) at: ${T.p99ClimbsAt ?? 'not within the steps run'}${T.p99ClimbsAt ? ' decisions/s' : ''}.`,
      "Binance itself allows an account 100 orders per 10 s (10/s sustained); the paper exchange's limits were raised for this run.",
    );
  }
  const U = r.burst;
  if (U) {
    md.push(
      '',
      `## Burst: ${U.n} MARKET decisions XADDed at once (ms from the first XADD)`,
      '',
      from(U, 'burst'),
      '',
      '| path | n | first | p50 | p90 | p99 | all (max) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| stack: → order accepted by the exchange (its order time) | ${U.stack.accepted.n} | ${U.stack.acceptedFirst ?? '–'} | ${U.stack.accepted.p50} | ${U.stack.accepted.p90} | ${U.stack.accepted.p99} | ${U.stack.accepted.max} |`,
      `| stack: → trade report on trade_executions | ${U.stack.report.n} | – | ${U.stack.report.p50} | ${U.stack.report.p90} | ${U.stack.report.p99} | ${U.stack.report.max} |`,
      `| exchange client directly, all at once: → accepted | ${U.direct.accepted.n} | ${U.direct.acceptedFirst ?? '–'} | ${U.direct.accepted.p50} | ${U.direct.accepted.p90} | ${U.direct.accepted.p99} | ${U.direct.accepted.max} |`,
      `| exchange client directly: → response | ${U.direct.response.n} | – | ${U.direct.response.p50} | ${U.direct.response.p90} | ${U.direct.response.p99} | ${U.direct.response.max} |`,
      '',
      `Ratio, all ${U.n} accepted, stack / direct: ${U.ratioAllAccepted}×. Lost: ${U.stack.lost}; filled ${U.stack.filled}; report statuses \`${JSON.stringify(U.stack.statuses)}\`${Object.keys(U.stack.errors ?? {}).length ? `, errors \`${JSON.stringify(U.stack.errors)}\`` : ''}. Exchange rate limits: ${U.exchangeLimits}; 429/418 answered: ${U.exchangeRateLimited.status429}/${U.exchangeRateLimited.status418}.`,
      `REST requests per order: ${U.cost.perOrder.requests} (weight ${U.cost.perOrder.weight}) \`${JSON.stringify(U.cost.byEndpoint)}\`. CPU ms per trade over the burst: \`${JSON.stringify(U.cpuPerTradeMs)}\`.`,
    );
  }
  const C = r.limit;
  if (L?.cost || C) {
    md.push('', '## Exchange cost per filled order', '', '| order | orders | REST requests / order | weight / order |', '| --- | ---: | ---: | ---: |');
    if (L?.cost) md.push(`| MARKET | ${L.cost.orders} | ${L.cost.perOrder.requests} | ${L.cost.perOrder.weight} |`);
    if (C) md.push(`| LIMIT resting ${C.restS} s | ${C.orders} | ${C.perOrder.requests} | ${C.perOrder.weight} |`);
    md.push(
      '',
      `By endpoint: ${L?.cost ? `MARKET \`${JSON.stringify(L.cost.byEndpoint)}\`` : ''}${L?.cost && C ? '; ' : ''}${C ? `LIMIT \`${JSON.stringify(C.byEndpoint)}\`` : ''}. REST requests counted by the paper exchange (WebSocket API user-data-stream traffic not included); weight from its route table with per-symbol parameters, successful order requests at 0 (Binance since 2026-04-02).`,
    );
    if (L?.cost) md.push(`MARKET: ${from(L, 'latency')}`);
    if (C) md.push(`LIMIT: ${from(C, 'limit')}`);
  }
  const M = r.memory;
  if (M) {
    md.push(
      '',
      `## Service memory with ${M.asked} LIMIT orders resting`,
      '',
      from(M, 'memory'),
      '',
      '| sample | resting orders open on the exchange | TradeExecution workflows running | service RSS (MB) | KB per added order | Temporal dev server RSS (MB) | at (s) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...M.samples.map((s: any) => `| ${s.label} | ${s.resting} | ${s.runningWorkflows ?? '?'} | ${s.rssMb} | ${s.kbPerAddedOrder ?? ''} | ${s.temporalRssMb} | ${s.atS} |`),
      '',
      `Measured, one paper account holding every order (its open-order limits raised to ${M.openOrderLimit}; Binance allows 1,000 per account), LIMIT BUY at ${M.restPrice} (half the price), decisions sent at ${M.sendRate}/s. ` +
        (M.allOpen
          ? `All ${M.asked} were open on the exchange ${M.timeToAllOpenS} s after the first decision was sent.`
          : `Not all ${M.asked} got open: ${M.stalled ?? 'see the samples'}.`) +
        ` Service (worker + bridge, one process) RSS grew about ${M.perRestingKb} KB per resting trade overall; the worker caches at most ${M.maxCachedWorkflows} workflows (maxCachedWorkflows), so past that the others are evicted and replayed whenever they wake.`,
      `With everything resting for ${M.settle.seconds} s: service CPU ${M.settle.serviceCpuPctOfOneCore}% of one core, ${M.settle.requestsPerS} REST requests/s to the exchange (${M.settle.weightPerMin} weight/min; Binance allows 6,000) \`${JSON.stringify(M.settle.byEndpoint)}\`; RSS every 10 s: ${M.settle.samples.map((s: any) => s.rssMb).join(', ')} MB.` +
        (Object.keys(M.reportStatuses).length ? ` Reports for these decisions: \`${JSON.stringify(M.reportStatuses)}\`.` : '') +
        (M.exchangeRateLimited ? ` Exchange 429/418 responses during the run: ${M.exchangeRateLimited.status429}/${M.exchangeRateLimited.status418}.` : ''),
    );
  }
  md.push('');
  return md.join('\n');
}

export function writeResults(r: Record<string, any>): void {
  const dir = path.resolve(__dirname, '..', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.when.replace(/[:.]/g, '-');
  const md = renderMarkdown(r);
  fs.writeFileSync(path.join(dir, `stack-bench-${stamp}.json`), JSON.stringify(r, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, `stack-bench-${stamp}.md`), md);
  // Latest: this run's phases, and for the phases it did not run, the previous latest figures.
  let latest = r;
  const partial = ALL_PHASES.some((p) => !r.phasesRun.includes(p));
  const latestJson = path.join(dir, 'stack-bench.json');
  if (partial && fs.existsSync(latestJson)) {
    try {
      const kept = sectionsOf(JSON.parse(fs.readFileSync(latestJson, 'utf8')) as Record<string, any>);
      latest = { ...r, ...Object.fromEntries(Object.entries(kept).filter(([p]) => !r.phasesRun.includes(p))) };
    } catch (e) {
      say(`(could not read the previous ${latestJson}: ${e instanceof Error ? e.message : String(e)}; the latest files hold this run only)`);
    }
  }
  fs.writeFileSync(path.join(dir, 'stack-bench.md'), latest === r ? md : renderMarkdown(latest));
  fs.writeFileSync(latestJson, JSON.stringify(latest, null, 2) + '\n');
  process.stdout.write(`\n${md}\nwritten: bench/results/stack-bench-${stamp}.{json,md} (and stack-bench.{json,md}${latest === r ? '' : ', keeping the phases not run from the previous latest'})\n`);
}
