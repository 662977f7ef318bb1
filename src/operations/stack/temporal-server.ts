/**
 * The real Temporal server (all four services in one process) on PostgreSQL, started from
 * deploy/temporal/server.yaml with the environment topology.ts renders it with, and its
 * namespace and search attributes registered through the frontend's own API (a real server,
 * unlike the dev server, creates no namespace by itself).
 *
 * It is a SupervisedProcess: a server that dies is started again, and nothing is lost that it
 * had acknowledged, because its state is in PostgreSQL (the durability the dev server's SQLite
 * file does not give a cluster).
 */
import path from 'node:path';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { grpc, temporal } from '@temporalio/proto';
import { msToTs } from '@temporalio/common/lib/time';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../shared/search-attributes';
import { SupervisedProcess } from './supervised-process';
import {
  NAMESPACE_RETENTION_HOURS,
  ROOT,
  TEMPORAL_DYNAMIC_CONFIG,
  TEMPORAL_SERVER_CONFIG,
  temporalServerEnv,
  type TemporalServerPorts,
} from './topology';
import type { SqlEndpoint } from './temporal-schema';

export interface TemporalServerOptions {
  serverBinary: string;
  postgres: SqlEndpoint;
  ports: TemporalServerPorts;
  logFile: string;
  /** Interface the services bind to (default 127.0.0.1). */
  bindIp?: string;
  progress?: (line: string) => void;
}

export function temporalServerProcess(o: TemporalServerOptions): SupervisedProcess {
  const bindIp = o.bindIp ?? '127.0.0.1';
  const address = `${bindIp}:${o.ports.frontendGrpc}`;
  // Only the variables the template reads, PATH and HOME: a TEMPORAL_* client setting of the
  // caller's shell must not leak into the server's configuration.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...temporalServerEnv({ postgres: o.postgres, ports: o.ports, bindIp, dynamicConfigPath: path.join(ROOT, TEMPORAL_DYNAMIC_CONFIG) }),
  };
  return new SupervisedProcess({
    name: 'temporal server',
    command: o.serverBinary,
    args: ['--config-file', path.join(ROOT, TEMPORAL_SERVER_CONFIG), '--allow-no-auth', 'start'],
    env,
    cwd: ROOT,
    logFile: o.logFile,
    readyCheck: () => frontendServing(address),
    readyTimeoutMs: 180_000,
    stopTimeoutMs: 20_000,
    progress: o.progress,
  });
}

/** True when the frontend answers its gRPC health check with SERVING. */
export async function frontendServing(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2_000 });
    // With a deadline: a frontend that accepts the connection but never answers is not up.
    const health = await connection.withDeadline(Date.now() + 2_000, () =>
      connection!.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' }),
    );
    return health.status === grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/**
 * Registers `namespace` (retention NAMESPACE_RETENTION_HOURS) and this service's search
 * attributes when missing; safe to run at every start. Waits until the namespace is visible to
 * the frontend, since a worker that polls a namespace it cannot yet see fails.
 */
export async function registerNamespace(address: string, namespace: string, progress: (line: string) => void = () => undefined): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const service = connection.workflowService;
    const exists = await service.describeNamespace({ namespace }).then(
      () => true,
      (err: unknown) => (isGrpcCode(err, NOT_FOUND) ? false : Promise.reject(err)),
    );
    if (!exists) {
      await service
        .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(NAMESPACE_RETENTION_HOURS * 3600_000) })
        .catch((err: unknown) => (isGrpcCode(err, ALREADY_EXISTS) ? undefined : Promise.reject(err))); // another start won
      progress(`registered namespace ${namespace} (retention ${NAMESPACE_RETENTION_HOURS} h)`);
    }
    // describeNamespace reads the database, but other calls go through each service's namespace
    // cache, which learns of a new namespace within seconds: until then they answer NOT_FOUND.
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await addMissingSearchAttributes(connection, namespace, progress);
        return;
      } catch (err) {
        if (!isGrpcCode(err, NOT_FOUND) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function addMissingSearchAttributes(connection: Connection, namespace: string, progress: (line: string) => void): Promise<void> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(listed.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTE_REGISTRATIONS.filter((sa) => !have.has(sa.name));
  if (missing.length === 0) return;
  const Type = temporal.api.enums.v1.IndexedValueType;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((sa) => [sa.name, sa.type === 'KeywordList' ? Type.INDEXED_VALUE_TYPE_KEYWORD_LIST : Type.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  progress(`registered search attributes ${missing.map((sa) => `${sa.name}=${sa.type}`).join(' ')}`);
}

/** gRPC status codes (grpc/status.proto). */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

function isGrpcCode(err: unknown, code: number): boolean {
  return isGrpcServiceError(err) && err.code === code;
}
