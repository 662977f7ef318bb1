/**
 * What tests use to reach the services started by test/support/global-setup.ts.
 *
 *   const env = testServices();            // addresses and urls (throws when TEST_SERVICES=none)
 *   await stopTemporal(); ... await startTemporal();   // a Temporal outage
 *   await restartTemporal();               // same port and db file: data is kept
 *   await withTemporalOutage(async () => { ... });     // stop, run, always start again
 *
 * The Temporal controls talk to globalSetup over the Unix socket $TEST_SERVICES_CONTROL
 * (test files cannot share objects with globalSetup: own module registry and vm context).
 */
import http from 'node:http';

export interface TestServices {
  /** gRPC `127.0.0.1:PORT` of the Temporal dev server. */
  temporalAddress: string;
  /** Temporal namespace (same value as temporalNamespace). */
  namespace: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  /** `temporal` binary the dev server runs (for `temporal workflow ...` in tests). */
  temporalCliPath: string;
  /** Superuser url of the embedded Postgres (database "postgres"; create per-test databases). */
  databaseUrl: string;
  /** redis://trade-exec-test:PASSWORD@127.0.0.1:PORT: the test Redis requires its ACL user. */
  redisUrl: string;
  /** JSON file with the same values. */
  servicesFile: string;
}

/** False when the suite was started with TEST_SERVICES=none. */
export function testServicesEnabled(): boolean {
  return process.env.TEST_SERVICES !== 'none';
}

export function testServices(): TestServices {
  if (!testServicesEnabled()) {
    throw new Error(
      'This test needs Temporal, Postgres and Redis, but the suite was started with TEST_SERVICES=none. ' +
        'Run it without TEST_SERVICES=none (npm test starts them), or skip it with testServicesEnabled().',
    );
  }
  const need = (name: string): string => {
    const v = process.env[name];
    if (!v) {
      throw new Error(
        `${name} is not set: the jest globalSetup (test/support/global-setup.ts) did not start the test services. ` +
          'Run the tests through jest with jest.config.js (npm test / npx jest --runInBand).',
      );
    }
    return v;
  };
  const namespace = need('TEMPORAL_NAMESPACE');
  return {
    temporalAddress: need('TEMPORAL_ADDRESS'),
    namespace,
    temporalNamespace: namespace,
    temporalUiUrl: need('TEMPORAL_UI_URL'),
    temporalCliPath: need('TEMPORAL_CLI_PATH'),
    databaseUrl: need('DATABASE_URL'),
    redisUrl: need('REDIS_URL'),
    servicesFile: need('TEST_SERVICES_FILE'),
  };
}

export interface ControlResult {
  ok: true;
  running: boolean;
  address: string;
  /** How long the action took. */
  ms?: number;
}

function control(method: 'GET' | 'POST', urlPath: string): Promise<ControlResult> {
  testServices(); // clear error when the services are off
  const socketPath = process.env.TEST_SERVICES_CONTROL!;
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as ControlResult & { error?: string; temporal?: ControlResult };
          if (res.statusCode !== 200) return reject(new Error(`test services control ${urlPath}: ${parsed.error ?? body}`));
          resolve(parsed.temporal ? { ...parsed.temporal, ok: true } : parsed);
        } catch {
          reject(new Error(`test services control ${urlPath}: bad answer ${res.statusCode} ${body}`));
        }
      });
    });
    req.on('error', (e) => reject(new Error(`test services control socket ${socketPath}: ${e.message}`)));
    req.end();
  });
}

/** Stop the Temporal dev server (clients then see UNAVAILABLE). */
export function stopTemporal(): Promise<ControlResult> {
  return control('POST', '/temporal/stop');
}

/** Start it again after stopTemporal(): same address, same db file, data kept. */
export function startTemporal(): Promise<ControlResult> {
  return control('POST', '/temporal/start');
}

/** Stop and start: same address, same db file, data kept. */
export function restartTemporal(): Promise<ControlResult> {
  return control('POST', '/temporal/restart');
}

/** Whether the dev server runs now, its address and pid. */
export function temporalStatus(): Promise<ControlResult & { pid?: number }> {
  return control('GET', '/status');
}

/** Run fn while Temporal is down; Temporal is always started again afterwards. */
export async function withTemporalOutage<T>(fn: () => Promise<T>): Promise<T> {
  await stopTemporal();
  try {
    return await fn();
  } finally {
    await startTemporal();
  }
}
