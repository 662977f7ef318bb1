/**
 * The production topology, described once. `npm run stack` (stack.ts) brings it up as local
 * processes and docker-compose.yml describes the same thing for Docker; test/stack/
 * compose-follows-topology.test.ts fails when compose names another server version, schema,
 * configuration file, namespace retention, search attribute or process role than this file.
 *
 *   PostgreSQL ─┬─ databases temporal + temporal_visibility (schemas below, by temporal-sql-tool)
 *               └─ database of the service (portfolio, trades; src/persistence/migrations)
 *   Temporal server (all four services in one process, deploy/temporal/server.yaml)
 *   Temporal UI server ── the server's frontend
 *   Redis (append-only file) ── risk_decisions in, trade_executions out
 *   N workers, M bridges: `src/operations/main.ts` with TRADE_EXEC_ROLES=worker|bridge
 *   the paper exchange, unless real keys are given
 */
import path from 'node:path';

/** The Temporal server and its SQL tool (go.temporal.io/server); v1.32.2 needs a newer Go than 1.26.8. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.1';
/** The Temporal UI server (github.com/temporalio/ui-server/v2): the one the CLI v1.5.1 embeds, and the temporalio/ui image's tag. */
export const TEMPORAL_UI_SERVER_VERSION = 'v2.42.1';

export const ROOT = path.resolve(__dirname, '../../..');
/** The server's configuration (a template over environment variables) and its dynamic configuration. */
export const TEMPORAL_SERVER_CONFIG = 'deploy/temporal/server.yaml';
export const TEMPORAL_DYNAMIC_CONFIG = 'deploy/temporal/dynamicconfig.yaml';

/** temporal-sql-tool's plugin and the schemas built into it (`--schema-name`). */
export const TEMPORAL_SQL_PLUGIN = 'postgres12';
export const TEMPORAL_SCHEMAS = [
  { store: 'default', database: 'temporal', schemaName: 'postgresql/v12/temporal' },
  { store: 'visibility', database: 'temporal_visibility', schemaName: 'postgresql/v12/visibility' },
] as const;

/** How long closed trades' histories are kept (the namespace's retention). */
export const NAMESPACE_RETENTION_HOURS = 72;

/** The service's own processes: each is `src/operations/main.ts` with these roles. */
export const SERVICE_ROLES = {
  worker: { roles: 'worker', defaultCount: 2, countVariable: 'STACK_WORKERS', metricsPortBase: 9464 },
  bridge: { roles: 'bridge', defaultCount: 2, countVariable: 'STACK_BRIDGES', metricsPortBase: 9564 },
} as const;
export type ServiceRole = keyof typeof SERVICE_ROLES;

/** The line `npm run stack` prints once every process is up (as `npm start` prints "trade-exec is ready"). */
export const STACK_READY_LINE = 'stack is ready';
/** What each service process prints when it is up (src/operations/main.ts). */
export const SERVICE_READY_LINE = 'trade-exec is ready';

/**
 * The Temporal server's listening ports (deploy/temporal/server.yaml's variables). `npm run
 * stack` uses the defaults below (a port already taken stops it with the server's own error);
 * tests ask for free ones. Membership ports must stay below 32768: the server stores them in a
 * SQL smallint (cluster_membership.rpc_port).
 */
export interface TemporalServerPorts {
  frontendGrpc: number;
  frontendHttp: number;
  frontendMembership: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
  metrics: number;
}

export const DEFAULT_TEMPORAL_PORTS: TemporalServerPorts = {
  frontendGrpc: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  historyGrpc: 7234,
  historyMembership: 6934,
  matchingGrpc: 7235,
  matchingMembership: 6935,
  workerGrpc: 7239,
  workerMembership: 6939,
  metrics: 8000,
};
export const DEFAULT_UI_PORT = 8080;

/** The environment deploy/temporal/server.yaml is rendered with. */
export function temporalServerEnv(o: {
  postgres: { host: string; port: number; user: string; password: string };
  ports: TemporalServerPorts;
  bindIp: string;
  dynamicConfigPath: string;
  logLevel?: string;
}): Record<string, string> {
  return {
    POSTGRES_SEEDS: o.postgres.host,
    DB_PORT: String(o.postgres.port),
    POSTGRES_USER: o.postgres.user,
    POSTGRES_PWD: o.postgres.password,
    TEMPORAL_DB: TEMPORAL_SCHEMAS[0].database,
    TEMPORAL_VISIBILITY_DB: TEMPORAL_SCHEMAS[1].database,
    BIND_ON_IP: o.bindIp,
    BROADCAST_ADDRESS: o.bindIp,
    FRONTEND_GRPC_PORT: String(o.ports.frontendGrpc),
    FRONTEND_HTTP_PORT: String(o.ports.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(o.ports.frontendMembership),
    HISTORY_GRPC_PORT: String(o.ports.historyGrpc),
    HISTORY_MEMBERSHIP_PORT: String(o.ports.historyMembership),
    MATCHING_GRPC_PORT: String(o.ports.matchingGrpc),
    MATCHING_MEMBERSHIP_PORT: String(o.ports.matchingMembership),
    WORKER_GRPC_PORT: String(o.ports.workerGrpc),
    WORKER_MEMBERSHIP_PORT: String(o.ports.workerMembership),
    PROMETHEUS_ENDPOINT: `${o.bindIp}:${o.ports.metrics}`,
    DYNAMIC_CONFIG_FILE_PATH: o.dynamicConfigPath,
    TEMPORAL_LOG_LEVEL: o.logLevel ?? 'warn',
  };
}
