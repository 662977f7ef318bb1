/**
 * The production topology (topology.ts) as local processes: `npm run stack` (main.ts) and the
 * tests in test/stack use this.
 *
 *   1. binaries: temporal-server, temporal-sql-tool, temporal-ui-server (built once, cached);
 *   2. in parallel: PostgreSQL (embedded, or DATABASE_URL), Redis (append-only file), the
 *      paper exchange (its own process, unless real keys are given), the workflow bundle;
 *   3. the Temporal schemas set up and updated, the server, its namespace and search attributes;
 *   4. the UI server, STACK_WORKERS workers and STACK_BRIDGES bridges, each its own process:
 *      `src/operations/main.ts` configured only by environment variables, exactly as `npm start`
 *      and compose run it, each with its own metrics port.
 *
 * Every process is supervised (supervised-process.ts): one that dies is started again. stop()
 * takes them down in the reverse order, bridges first (no new trades), workers (running
 * activities finish), then the rest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../paper-exchange';
import { redactUrl } from '../../logging';
import { operatorCliHint } from '../operator-hint';
import { startEmbeddedPostgres } from '../postgres-server';
import { getFreePorts, getFreePortsInRange } from '../ports';
import { npmStartRedisOptions, startRedisServer } from '../redis-server';
import { writeWorkflowBundle } from '../build-workflow-bundle';
import { ensureTemporalServerBinaries } from './temporal-binaries';
import { setUpTemporalSchemas, type SqlEndpoint } from './temporal-schema';
import { registerNamespace, temporalServerProcess } from './temporal-server';
import { temporalUiProcess } from './temporal-ui';
import { SupervisedProcess } from './supervised-process';
import {
  DEFAULT_TEMPORAL_PORTS,
  DEFAULT_UI_PORT,
  ROOT,
  SERVICE_READY_LINE,
  SERVICE_ROLES,
  STACK_READY_LINE,
  type ServiceRole,
  type TemporalServerPorts,
} from './topology';

/** Real keys: the stack then starts no paper exchange and the workers trade there. */
export interface RealExchange {
  baseUrl: string;
  wsApiUrl?: string;
  apiKey: string;
  apiSecret?: string;
  privateKeyPath?: string;
}

export interface StackOptions {
  /** Where PostgreSQL, Redis, logs and the UI's configuration live. */
  dataDir: string;
  workers?: number;
  bridges?: number;
  /** External PostgreSQL (its user must be allowed to create the Temporal databases); absent: embedded. */
  databaseUrl?: string;
  exchange?: RealExchange;
  namespace?: string;
  /** `defaults`: topology.ts's ports (7233, UI 8080, metrics 9464+…); `free`: any free ones (tests). */
  ports?: 'defaults' | 'free';
  /** Start the UI server (default true). */
  ui?: boolean;
  /** Extra environment for every worker and bridge (e.g. ORDER_TIMEOUT_MS). */
  serviceEnv?: Record<string, string>;
  /** Extra environment for the paper exchange (e.g. PAPER_PRICE_STEP_MS). */
  paperEnv?: Record<string, string>;
  /** Test tuning for the embedded PostgreSQL (fsync off). Never for real money. */
  fastPostgres?: boolean;
  progress?: (line: string) => void;
}

export interface RunningStack {
  temporalAddress: string;
  namespace: string;
  uiUrl?: string;
  databaseUrl: string;
  redisUrl: string;
  exchange: { baseUrl: string; wsApiUrl?: string; paper: boolean };
  /** The workflow bundle every worker loads, and its build id (buildIdOf). */
  workflowBundle: { file: string; buildId: string };
  temporal: SupervisedProcess;
  ui?: SupervisedProcess;
  paper?: SupervisedProcess;
  workers: SupervisedProcess[];
  bridges: SupervisedProcess[];
  logDir: string;
  /** Starts one more worker or bridge (a deploy's new version, a scale-up), with extra environment. */
  addService(role: ServiceRole, o?: { env?: Record<string, string>; name?: string }): Promise<SupervisedProcess>;
  /** The banner `npm run stack` prints: "stack is ready" and every address. */
  banner(): string[];
  stop(): Promise<void>;
}

type Stopper = { name: (typeof STOP_ORDER)[number]; stop: () => Promise<void> };

/**
 * Bridges first (no new trades), then workers (running activities finish), the UI, the server,
 * the paper exchange the workers talked to, and the databases last, whatever order they came up in.
 */
const STOP_ORDER = ['workers and bridges', 'temporal ui', 'temporal server', 'paper exchange', 'redis', 'postgres'] as const;

export async function startStack(o: StackOptions): Promise<RunningStack> {
  const say = o.progress ?? (() => undefined);
  const dataDir = path.resolve(o.dataDir);
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const namespace = o.namespace ?? 'default';
  const stoppers: Stopper[] = [];
  const supervised: SupervisedProcess[] = [];
  const stopAll = async () => {
    // Nothing is started again while the others stop (a worker must not come back once the server is going).
    for (const p of supervised) p.holdRestarts();
    const rank = (s: Stopper) => STOP_ORDER.indexOf(s.name);
    for (const s of stoppers.splice(0).sort((a, b) => rank(a) - rank(b))) {
      try {
        say(`stopping ${s.name}`);
        await s.stop();
        say(`stopped ${s.name}`);
      } catch (err) {
        say(`stopping ${s.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  const workerCount = o.workers ?? SERVICE_ROLES.worker.defaultCount;
  const bridgeCount = o.bridges ?? SERVICE_ROLES.bridge.defaultCount;
  try {
    const ports = await choosePorts(o.ports ?? 'defaults', workerCount + bridgeCount);
    const binaries = await ensureTemporalServerBinaries(say, { ui: o.ui !== false });

    // allSettled: when one part fails, the others must have finished starting (and registered
    // their stoppers) before stopAll runs, or a PostgreSQL still starting would be left behind.
    const settled = await Promise.allSettled([
      (async () => {
        if (o.databaseUrl) return { url: o.databaseUrl, sql: sqlEndpointOf(o.databaseUrl) };
        const pg = await startEmbeddedPostgres({
          dataDir: path.join(dataDir, 'postgres'),
          database: 'trade',
          fast: o.fastPostgres,
          // The Temporal server's pools (24) and each service process's (up to 10) share it.
          postgresFlags: ['-c', `max_connections=${100 + 12 * (workerCount + bridgeCount)}`],
          progress: say,
        });
        stoppers.push({ name: 'postgres', stop: () => pg.stop() });
        return { url: pg.url, sql: sqlEndpointOf(pg.url) };
      })(),
      (async () => {
        const redis = await startRedisServer({ ...npmStartRedisOptions({ dataDir }), logFile: path.join(logDir, 'redis.log') });
        stoppers.push({ name: 'redis', stop: () => redis.stop() });
        return redis.url;
      })(),
      (async () => {
        if (o.exchange) return { baseUrl: o.exchange.baseUrl, wsApiUrl: o.exchange.wsApiUrl, paper: false as const };
        const paper = paperExchangeProcess(ports.paper, path.join(logDir, 'paper-exchange.log'), o.paperEnv ?? {}, say);
        supervised.push(paper);
        stoppers.push({ name: 'paper exchange', stop: () => paper.stop() });
        await paper.start();
        return { baseUrl: `http://127.0.0.1:${ports.paper}`, wsApiUrl: `ws://127.0.0.1:${ports.paper}/ws-api/v3`, paper: true as const, process: paper };
      })(),
      // Bundled once here rather than by every worker at its start (a CPU-bound webpack run
      // each): the workers load the file, and their build id is this code's hash.
      writeWorkflowBundle({ outFile: path.join(dataDir, 'workflow-bundle.js') }),
    ] as const);
    const [database, redisUrl, exchange, bundle] = [valueOf(settled[0]), valueOf(settled[1]), valueOf(settled[2]), valueOf(settled[3])];
    say(`workflow bundle ${bundle.outFile} (build id ${bundle.buildId})`);

    await setUpTemporalSchemas({ sqlTool: binaries.sqlTool, postgres: database.sql, progress: say });
    const temporal = temporalServerProcess({
      serverBinary: binaries.server,
      postgres: database.sql,
      ports: ports.temporal,
      logFile: path.join(logDir, 'temporal-server.log'),
      progress: say,
    });
    supervised.push(temporal);
    stoppers.push({ name: 'temporal server', stop: () => temporal.stop() });
    const startedAt = Date.now();
    await temporal.start();
    const temporalAddress = `127.0.0.1:${ports.temporal.frontendGrpc}`;
    say(`Temporal server ${temporalAddress} serving after ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    await registerNamespace(temporalAddress, namespace, say);

    let ui: SupervisedProcess | undefined;
    if (o.ui !== false && binaries.uiServer) {
      const uiProcess = temporalUiProcess({
        uiServerBinary: binaries.uiServer,
        temporalAddress,
        namespace,
        port: ports.ui,
        dir: path.join(dataDir, 'ui'),
        logFile: path.join(logDir, 'temporal-ui.log'),
        progress: say,
      });
      ui = uiProcess;
      supervised.push(uiProcess);
      stoppers.push({ name: 'temporal ui', stop: () => uiProcess.stop() });
    }

    const credentials = o.exchange
      ? { BINANCE_API_KEY: o.exchange.apiKey, BINANCE_API_SECRET: o.exchange.apiSecret ?? '', BINANCE_PRIVATE_KEY_PATH: o.exchange.privateKeyPath ?? '' }
      : { BINANCE_API_KEY: PAPER_DEFAULT_API_KEY, BINANCE_API_SECRET: PAPER_DEFAULT_API_SECRET, BINANCE_PRIVATE_KEY_PATH: '' };
    const sharedEnv: Record<string, string> = {
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      BINANCE_BASE_URL: exchange.baseUrl,
      BINANCE_WS_API_URL: exchange.wsApiUrl ?? '',
      TEMPORAL_WORKFLOW_BUNDLE: bundle.outFile,
      ...credentials,
      ...(o.serviceEnv ?? {}),
    };
    const workers: SupervisedProcess[] = [];
    const bridges: SupervisedProcess[] = [];
    const counters: Record<ServiceRole, number> = { worker: 0, bridge: 0 };
    const serviceStopper: Stopper = {
      name: 'workers and bridges',
      // Bridges first: no new trades start while the workers finish what runs.
      stop: async () => {
        await Promise.all(bridges.map((b) => b.stop()));
        await Promise.all(workers.map((w) => w.stop()));
      },
    };
    stoppers.push(serviceStopper);
    const addService = async (role: ServiceRole, extra: { env?: Record<string, string>; name?: string } = {}) => {
      counters[role] += 1;
      const name = extra.name ?? `${role}-${counters[role]}`;
      const metricsPort = ports.metrics === 'by role' ? SERVICE_ROLES[role].metricsPortBase + counters[role] - 1 : (ports.metrics.shift() ?? (await getFreePorts(1))[0]!);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...sharedEnv,
        TRADE_EXEC_ROLES: SERVICE_ROLES[role].roles,
        METRICS_PORT: String(metricsPort),
        ...(role === 'bridge' ? { BRIDGE_CONSUMER: name } : {}),
        ...(extra.env ?? {}),
      };
      const proc = serviceProcess(name, env, path.join(logDir, `${name}.log`), say);
      supervised.push(proc);
      (role === 'worker' ? workers : bridges).push(proc);
      await proc.start();
      return proc;
    };

    await Promise.all([
      ui?.start(),
      ...Array.from({ length: workerCount }, () => addService('worker')),
      ...Array.from({ length: bridgeCount }, () => addService('bridge')),
    ]);

    const uiUrl = ui ? `http://127.0.0.1:${ports.ui}` : undefined;
    const stack: RunningStack = {
      temporalAddress,
      namespace,
      uiUrl,
      databaseUrl: database.url,
      redisUrl,
      exchange: { baseUrl: exchange.baseUrl, wsApiUrl: exchange.wsApiUrl, paper: exchange.paper },
      workflowBundle: { file: bundle.outFile, buildId: bundle.buildId },
      temporal,
      ui,
      paper: exchange.process,
      workers,
      bridges,
      logDir,
      addService,
      banner: () => [
        STACK_READY_LINE,
        `  Temporal server: ${temporalAddress}  (namespace ${namespace}; PostgreSQL databases temporal, temporal_visibility)`,
        `  Temporal UI:     ${uiUrl ?? '(off)'}`,
        `  PostgreSQL:      ${redactUrl(database.url)}`,
        `  Redis:           ${redactUrl(redisUrl)}  (decisions in: risk_decisions, reports out: trade_executions)`,
        `  Exchange:        ${exchange.baseUrl}${exchange.paper ? '  (paper exchange)' : ''}`,
        ...workers.map((w) => `  ${w.name.padEnd(16)} pid ${w.pid ?? '-'}  metrics http://127.0.0.1:${w.options.env.METRICS_PORT}/metrics`),
        ...bridges.map((b) => `  ${b.name.padEnd(16)} pid ${b.pid ?? '-'}  metrics http://127.0.0.1:${b.options.env.METRICS_PORT}/metrics`),
        `  Logs:            ${logDir}`,
        ...operatorCliHint({
          temporalAddress,
          redisUrl, // the stack's own Redis, always
          ...(o.databaseUrl ? {} : { databaseUrl: database.url }),
          ...(exchange.paper ? { paper: { baseUrl: exchange.baseUrl, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET } } : {}),
        }),
      ],
      stop: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A worker or bridge: `src/operations/main.ts`, as `npm start` runs it (node --require tsx/cjs, no wrapper process a signal would stop at). */
function serviceProcess(name: string, env: NodeJS.ProcessEnv, logFile: string, say: (line: string) => void): SupervisedProcess {
  return new SupervisedProcess({
    name,
    command: process.execPath,
    args: ['--require', 'tsx/cjs', 'src/operations/main.ts'],
    env,
    cwd: ROOT,
    logFile,
    readyLine: SERVICE_READY_LINE,
    readyTimeoutMs: 180_000,
    // Running activities finish and in-flight decisions settle before it exits (compose's stop_grace_period).
    stopTimeoutMs: 60_000,
    progress: say,
  });
}

function paperExchangeProcess(port: number, logFile: string, extraEnv: Record<string, string>, say: (line: string) => void): SupervisedProcess {
  return new SupervisedProcess({
    name: 'paper exchange',
    command: process.execPath,
    args: ['--require', 'tsx/cjs', 'src/paper-exchange/main.ts'],
    env: { ...process.env, PAPER_EXCHANGE_PORT: String(port), PAPER_EXCHANGE_HOST: '127.0.0.1', ...extraEnv },
    cwd: ROOT,
    logFile,
    readyLine: 'paper exchange listening',
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 5_000,
    progress: say,
  });
}

/** A settled part's value, or its failure thrown (the first of them, as the parts are read in order). */
function valueOf<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

export function sqlEndpointOf(databaseUrl: string): SqlEndpoint {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

interface StackPorts {
  temporal: TemporalServerPorts;
  ui: number;
  paper: number;
  /** `by role`: SERVICE_ROLES' bases (worker-1 9464, bridge-1 9564, …); else free ports to hand out. */
  metrics: 'by role' | number[];
}

async function choosePorts(kind: 'defaults' | 'free', services: number): Promise<StackPorts> {
  if (kind === 'defaults') {
    return { temporal: DEFAULT_TEMPORAL_PORTS, ui: DEFAULT_UI_PORT, paper: 8090, metrics: 'by role' };
  }
  const free = await getFreePorts(8 + services);
  const next = () => free.shift()!;
  // The server keeps membership ports in a SQL smallint: below 32768, out of the ephemeral range.
  const membership = await getFreePortsInRange(4, 20_000, 32_000);
  const temporal: TemporalServerPorts = {
    frontendGrpc: next(),
    frontendHttp: next(),
    frontendMembership: membership[0]!,
    historyGrpc: next(),
    historyMembership: membership[1]!,
    matchingGrpc: next(),
    matchingMembership: membership[2]!,
    workerGrpc: next(),
    workerMembership: membership[3]!,
    metrics: next(),
  };
  return { temporal, ui: next(), paper: next(), metrics: free };
}
