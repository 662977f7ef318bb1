/**
 * Benchmark: how fast the bridge drains a backlog of risk decisions into TradeExecution starts.
 *
 *   npx tsx bench/bridge-drain.ts [decisions=10000] [concurrency=32] [batch=100]
 *
 * Starts its own services the way the tests do (test/support/global-setup.ts): a Temporal dev
 * server (CLI from ensureTemporalCli, SQLite file with fast pragmas, no UI), an embedded Postgres
 * (fsync off) and a redis-server, all on free loopback ports in a temp dir that is removed at the
 * end. Then:
 *   1. baseline: bare `workflow.start` calls (min(decisions, 3000)) at the same concurrency
 *      straight from a Temporal client, i.e. what the dev server can take on this machine;
 *   2. pushes the backlog to `risk_decisions` (before any bridge runs);
 *   3. runs one in-process DecisionBridge (the production class, Postgres recorder, lazy
 *      connection without SDK retries, as src/bridge/main.ts wires it) and measures from start()
 *      until every decision is started and acknowledged.
 * No worker runs: the workflows stay open, so only the starts are measured.
 * Prints decisions started per second, start latency, and the load average (the machine may be
 * shared; the baseline is measured under the same conditions to make the figure comparable).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@temporalio/client';
import Redis from 'ioredis';
import { DecisionBridge } from '../src/bridge/decision-bridge';
import { readLag } from '../src/bridge/metrics';
import { createPgBridgeRecorder } from '../src/bridge/pg-recorder';
import { connectBridgeTemporal } from '../src/bridge/temporal-connection';
import { createLogger } from '../src/logging';
import { createPool } from '../src/persistence/db';
import { migrate } from '../src/persistence/migrate';
import { startEmbeddedPostgres } from '../src/operations/postgres-server';
import { startRedisServer } from '../src/operations/redis-server';
import { ensureTemporalCli } from '../src/operations/temporal-cli';
import { startTemporalDevServer } from '../src/operations/temporal-dev-server';
import { CONSUMER_GROUP, RISK_DECISIONS_STREAM } from '../src/shared/streams';

const N = Number(process.argv[2] ?? 10_000);
const CONCURRENCY = Number(process.argv[3] ?? 32);
const BATCH = Number(process.argv[4] ?? 100);
const say = (line: string) => process.stdout.write(`${line}\n`);
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridge-bench-'));
  fs.chmodSync(root, 0o755); // embedded postgres runs as "postgres" and must enter it
  const stoppers: Array<() => Promise<unknown>> = [];
  try {
    say(`${os.cpus().length} cpus, load average ${load()}; starting Temporal dev server, Postgres, Redis in ${root}`);
    const cliPath = await ensureTemporalCli((l) => say(`temporal cli: ${l}`));
    const [temporal, postgres, redisServer] = await Promise.all([
      startTemporalDevServer({ cliPath, dbFile: path.join(root, 'temporal.db'), fastSqlite: true, ui: false, logFile: path.join(root, 'temporal.log') }),
      startEmbeddedPostgres({ dataDir: path.join(root, 'postgres'), fast: true }),
      startRedisServer({ dir: root }),
    ]);
    stoppers.push(() => temporal.stop(), () => postgres.stop(), () => redisServer.stop());

    const connection = connectBridgeTemporal(temporal.address);
    stoppers.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const pool = createPool(postgres.url, { max: 20 });
    stoppers.push(() => pool.end());
    await migrate(pool);
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    stoppers.push(async () => redis.disconnect());

    const result: Record<string, unknown> = {
      at: new Date().toISOString(),
      commit: gitCommit(),
      machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
      loadAverageAtStart: os.loadavg(),
      decisions: N,
      concurrency: CONCURRENCY,
      batch: BATCH,
    };
    let baselinePerS = 0;
    // 1. Baseline: bare starts.
    {
      const B = Math.min(N, 3000);
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < B) {
            const i = next++;
            await client.workflow.start('TradeExecution', { taskQueue: 'bench-baseline', workflowId: `baseline-${i}`, args: [] });
          }
        }),
      );
      const s = (performance.now() - t0) / 1000;
      say(`baseline: ${B} bare workflow.start calls, concurrency ${CONCURRENCY}: ${s.toFixed(1)} s = ${(B / s).toFixed(0)} starts/s (load ${load()})`);
      baselinePerS = B / s;
      result.baseline = { starts: B, seconds: round2(s), perS: round2(B / s), loadAverage: os.loadavg() };
    }

    // 2. The backlog.
    const run = Date.now().toString(36);
    for (let i = 0; i < N; i += 1000) {
      const p = redis.pipeline();
      for (let j = i; j < Math.min(N, i + 1000); j++) {
        p.xadd(RISK_DECISIONS_STREAM, '*', 'data', JSON.stringify({
          decision_id: `bench-${run}-${j}`,
          timestamp: Date.now(),
          symbol: j % 2 ? 'BTCUSDT' : 'ETHUSDT',
          decision: 'approve',
          original_signal: j % 3 ? 2 : 0,
          approved_size: '0.001',
          reasons: ['bench'],
        }));
      }
      await p.exec();
    }
    say(`pushed ${N} decisions to ${RISK_DECISIONS_STREAM}`);

    // 3. Drain.
    const bridge = new DecisionBridge({
      redis,
      temporal: client,
      recorder: createPgBridgeRecorder(pool),
      logger: createLogger('bench', 'warn'),
      taskQueue: 'bench-bridge',
      consumer: 'bench',
      defaultOrderTimeoutMs: 60_000,
      concurrency: CONCURRENCY,
      batchSize: BATCH,
      // A large backlog takes longer to drain than DECISION_MAX_AGE_MS allows: every start is measured.
      safety: { maxAgeMs: 0, maxAgeRestingMs: 0 },
    });
    const started = async () => (await bridge.metrics.started.get()).values.reduce((a, v) => a + v.value, 0);
    const t0 = performance.now();
    await bridge.start();
    let lastReport = t0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const lag = await readLag(redis, RISK_DECISIONS_STREAM, CONSUMER_GROUP);
      if (lag.pending === 0 && lag.lag === 0) break;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        say(`  ${((lastReport - t0) / 1000).toFixed(0)} s: ${await started()} started, ${lag.lag} not yet read, ${lag.pending} in hand`);
      }
    }
    const s = (performance.now() - t0) / 1000;
    const count = await started();
    const hist = (await bridge.metrics.startLatency.get()).values;
    const sum = hist.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const buckets = hist.filter((v) => v.metricName?.endsWith('_bucket'));
    const pct = (p: number) => buckets.find((b) => b.value >= p * count)?.labels.le;
    await bridge.stop();
    say(
      `bridge: ${count} of ${N} decisions started in ${s.toFixed(1)} s = ${(count / s).toFixed(0)} decisions/s ` +
        `(concurrency ${CONCURRENCY}, batch ${BATCH}; start latency mean ${((sum / Math.max(1, count)) * 1000).toFixed(0)} ms, ` +
        `p50 <= ${pct(0.5)} s, p99 <= ${pct(0.99)} s; load ${load()})`,
    );
    result.bridge = { started: count, seconds: round2(s), perS: round2(count / s), startLatencyMeanMs: Math.round((sum / Math.max(1, count)) * 1000), p50LeS: pct(0.5), p99LeS: pct(0.99), loadAverage: os.loadavg() };
    result.ratioToBaseline = round2(count / s / baselinePerS);
    say(`bridge / bare starts: ${(result.ratioToBaseline as number).toFixed(2)} (goal >= 0.90)`);
    writeResults(result);
    if (count !== N) throw new Error(`expected ${N} starts, got ${count}`);
  } finally {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** bench/results/bridge-drain-<time>.{json,md}, and bridge-drain.{json,md} as the latest. */
function writeResults(result: Record<string, unknown>): void {
  const dir = path.resolve(__dirname, 'results');
  const stamp = String(result.at).replace(/[:.]/g, '-');
  const b = result.baseline as { starts: number; perS: number };
  const r = result.bridge as { started: number; seconds: number; perS: number; startLatencyMeanMs: number; p50LeS: string; p99LeS: string };
  const md = [
    `# Bridge drain, ${result.at} (commit ${result.commit})`,
    '',
    `${result.machine}; load average at start ${(result.loadAverageAtStart as number[]).map((l) => l.toFixed(2)).join(' ')}. Command: \`npx tsx bench/bridge-drain.ts ${N} ${CONCURRENCY} ${BATCH}\`.`,
    '',
    '| | starts | per second |',
    '| --- | ---: | ---: |',
    `| bare \`workflow.start\` (concurrency ${CONCURRENCY}) | ${b.starts} | ${b.perS} |`,
    `| bridge draining a backlog of ${N} (concurrency ${CONCURRENCY}, batch ${BATCH}) | ${r.started} in ${r.seconds} s | ${r.perS} |`,
    `| ratio | | **${result.ratioToBaseline}** (goal >= 0.90) |`,
    '',
    `Start latency: mean ${r.startLatencyMeanMs} ms, p50 <= ${r.p50LeS} s, p99 <= ${r.p99LeS} s.`,
    '',
  ].join('\n');
  for (const name of [`bridge-drain-${stamp}`, 'bridge-drain']) {
    fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    fs.writeFileSync(path.join(dir, `${name}.md`), md);
  }
  say(`results in ${path.join(dir, `bridge-drain-${stamp}.md`)}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
