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

function renderMarkdown(result: Record<string, any>): string {
  const row = (name: string, s: Stats) => `| ${name} | ${s.n} | ${s.p50} | ${s.p90} | ${s.p99} | ${s.max} |`;
  const from = (sec: Record<string, any>, phase: Phase) =>
    `${result.phasesRun.includes(phase) ? 'This run' : `From the run of ${sec.when}`}; 1-minute load average at the end of the phase: ${sec.load1m ?? '?'}.`;
  const md = [
    `# Stack benchmark (${result.when})`,
    '',
    `Machine: ${result.machine.cores} cores (${result.machine.cpu}), ${result.machine.memGb} GiB, Node ${result.machine.node}. ${result.note}`,
    `Command: \`${result.command}\`; phases run: ${result.phasesRun.join(', ')}. Sizes: \`${JSON.stringify(result.sizes)}\`.`,
    `1-minute load average before the stack and at the end of each phase (2.0 = both cores busy; anything else running on the machine counts): \`${JSON.stringify(result.loadAverage1m)}\`.`,
    `Paper exchange: rate limits ${result.paperExchange.rateLimits}; open-order limits ${result.paperExchange.openOrderLimits}.`,
    `Latency measures in effect: ${result.features ? Object.entries(result.features).map(([k, v]) => `${k} ${String(v)}`).join('; ') : 'not recorded'}.`,
  ];
  const latency = result.latency;
  const baseline = result.baseline;
  if (latency || baseline) {
    md.push('', `## Latency, MARKET orders at ${(latency ?? baseline).rate}/s (ms)`, '', '| path | n | p50 | p90 | p99 | max |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    if (latency) md.push(row('XADD → order accepted by the exchange', latency.stack.accepted), row('XADD → execution report on trade_executions', latency.stack.report));
    if (baseline) md.push(row('baseline: client call → order accepted', baseline.accepted), row('baseline: client call → response', baseline.response));
    md.push('');
    if (latency && baseline) md.push(`Ratio (p50, stack / baseline): to accepted ${round2(latency.stack.accepted.p50 / Math.max(1, baseline.accepted.p50))}×, to report vs response ${round2(latency.stack.report.p50 / Math.max(1, baseline.response.p50))}×.`);
    if (latency) md.push(`Lost: ${latency.stack.lost}. Stack: ${from(latency, 'latency')}`);
    if (latency?.cpuPerTradeMs) md.push(`CPU ms per trade over the latency phase: \`${JSON.stringify(latency.cpuPerTradeMs)}\`.`);
    if (baseline) md.push(`Baseline: ${from(baseline, 'baseline')}`);
  }
  const throughput = result.throughput;
  if (throughput) {
    md.push(
      '',
      `## Throughput (MARKET, ${throughput.stepS} s per step)`,
      '',
      from(throughput, 'throughput'),
      '',
      '| offered /s | sent | completed | lost | achieved /s | report p50 | p90 | p99 | max | CPU ms per trade: service / Temporal / PostgreSQL / Redis / driver+paper |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...throughput.steps.map(
        (s: any) =>
          `| ${s.offered} | ${s.sent} | ${s.completed} | ${s.lost} | ${s.achieved} | ${s.report.p50} | ${s.report.p90} | ${s.report.p99} | ${s.report.max} | ${s.cpuPerTradeMs ? [s.cpuPerTradeMs.service, s.cpuPerTradeMs.temporal, s.cpuPerTradeMs.postgres, s.cpuPerTradeMs.redis, s.cpuPerTradeMs.driverAndPaperExchange].join(' / ') : '–'} |`,
      ),
      '',
      `Sustained with nothing lost: ${throughput.sustainedPerS} decisions/s. p99 climbs (> 2× the first step's) at: ${throughput.p99ClimbsAt ?? 'not within the steps run'}${throughput.p99ClimbsAt ? ' decisions/s' : ''}.`,
      "Binance itself allows an account 100 orders per 10 s (10/s sustained); the paper exchange's limits were raised for this run.",
    );
  }
  const burst = result.burst;
  if (burst) {
    md.push(
      '',
      `## Burst: ${burst.n} MARKET decisions XADDed at once (ms from the first XADD)`,
      '',
      from(burst, 'burst'),
      '',
      '| path | n | first | p50 | p90 | p99 | all (max) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| stack: → order accepted by the exchange (its order time) | ${burst.stack.accepted.n} | ${burst.stack.acceptedFirst ?? '–'} | ${burst.stack.accepted.p50} | ${burst.stack.accepted.p90} | ${burst.stack.accepted.p99} | ${burst.stack.accepted.max} |`,
      `| stack: → trade report on trade_executions | ${burst.stack.report.n} | – | ${burst.stack.report.p50} | ${burst.stack.report.p90} | ${burst.stack.report.p99} | ${burst.stack.report.max} |`,
      `| exchange client directly, all at once: → accepted | ${burst.direct.accepted.n} | ${burst.direct.acceptedFirst ?? '–'} | ${burst.direct.accepted.p50} | ${burst.direct.accepted.p90} | ${burst.direct.accepted.p99} | ${burst.direct.accepted.max} |`,
      `| exchange client directly: → response | ${burst.direct.response.n} | – | ${burst.direct.response.p50} | ${burst.direct.response.p90} | ${burst.direct.response.p99} | ${burst.direct.response.max} |`,
      '',
      `Ratio, all ${burst.n} accepted, stack / direct: ${burst.ratioAllAccepted}×. Lost: ${burst.stack.lost}; filled ${burst.stack.filled}; report statuses \`${JSON.stringify(burst.stack.statuses)}\`${Object.keys(burst.stack.errors ?? {}).length ? `, errors \`${JSON.stringify(burst.stack.errors)}\`` : ''}. Exchange rate limits: ${burst.exchangeLimits}; 429/418 answered: ${burst.exchangeRateLimited.status429}/${burst.exchangeRateLimited.status418}.`,
      `REST requests per order: ${burst.cost.perOrder.requests} (weight ${burst.cost.perOrder.weight}) \`${JSON.stringify(burst.cost.byEndpoint)}\`. CPU ms per trade over the burst: \`${JSON.stringify(burst.cpuPerTradeMs)}\`.`,
    );
  }
  const limit = result.limit;
  if (latency?.cost || limit) {
    md.push('', '## Exchange cost per filled order', '', '| order | orders | REST requests / order | weight / order |', '| --- | ---: | ---: | ---: |');
    if (latency?.cost) md.push(`| MARKET | ${latency.cost.orders} | ${latency.cost.perOrder.requests} | ${latency.cost.perOrder.weight} |`);
    if (limit) md.push(`| LIMIT resting ${limit.restS} s | ${limit.orders} | ${limit.perOrder.requests} | ${limit.perOrder.weight} |`);
    md.push(
      '',
      `By endpoint: ${latency?.cost ? `MARKET \`${JSON.stringify(latency.cost.byEndpoint)}\`` : ''}${latency?.cost && limit ? '; ' : ''}${limit ? `LIMIT \`${JSON.stringify(limit.byEndpoint)}\`` : ''}. REST requests counted by the paper exchange (WebSocket API user-data-stream traffic not included); weight from its route table with per-symbol parameters, successful order requests at 0 (Binance since 2026-04-02).`,
    );
    if (latency?.cost) md.push(`MARKET: ${from(latency, 'latency')}`);
    if (limit) md.push(`LIMIT: ${from(limit, 'limit')}`);
  }
  const memory = result.memory;
  if (memory) {
    md.push(
      '',
      `## Service memory with ${memory.asked} LIMIT orders resting`,
      '',
      from(memory, 'memory'),
      '',
      '| sample | resting orders open on the exchange | TradeExecution workflows running | service RSS (MB) | KB per added order | Temporal dev server RSS (MB) | at (s) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...memory.samples.map((s: any) => `| ${s.label} | ${s.resting} | ${s.runningWorkflows ?? '?'} | ${s.rssMb} | ${s.kbPerAddedOrder ?? ''} | ${s.temporalRssMb} | ${s.atS} |`),
      '',
      `Measured, one paper account holding every order (its open-order limits raised to ${memory.openOrderLimit}; Binance allows 1,000 per account), LIMIT BUY at ${memory.restPrice} (half the price), decisions sent at ${memory.sendRate}/s. ` +
        (memory.allOpen
          ? `All ${memory.asked} were open on the exchange ${memory.timeToAllOpenS} s after the first decision was sent.`
          : `Not all ${memory.asked} got open: ${memory.stalled ?? 'see the samples'}.`) +
        ` Service (worker + bridge, one process) RSS grew about ${memory.perRestingKb} KB per resting trade overall; the worker caches at most ${memory.maxCachedWorkflows} workflows (maxCachedWorkflows), so past that the others are evicted and replayed whenever they wake.`,
      `With everything resting for ${memory.settle.seconds} s: service CPU ${memory.settle.serviceCpuPctOfOneCore}% of one core, ${memory.settle.requestsPerS} REST requests/s to the exchange (${memory.settle.weightPerMin} weight/min; Binance allows 6,000) \`${JSON.stringify(memory.settle.byEndpoint)}\`; RSS every 10 s: ${memory.settle.samples.map((s: any) => s.rssMb).join(', ')} MB.` +
        (Object.keys(memory.reportStatuses).length ? ` Reports for these decisions: \`${JSON.stringify(memory.reportStatuses)}\`.` : '') +
        (memory.exchangeRateLimited ? ` Exchange 429/418 responses during the run: ${memory.exchangeRateLimited.status429}/${memory.exchangeRateLimited.status418}.` : ''),
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
