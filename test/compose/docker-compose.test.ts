/**
 * docker-compose.yml against the Compose Specification schema (test/compose/compose-spec.json,
 * from github.com/compose-spec/compose-spec schema/compose-spec.json at 170098ba, Apache-2.0)
 * and against the code: the services, ports and environment variables it names are the ones
 * src/config.ts (ConfigSchema) and the paper exchange's main read.
 *
 * `docker compose config` (no engine needed) runs too when a compose CLI is found, and its resolved
 * model must match these expectations; without one that test is skipped with a note saying how to
 * install it (`bash scripts/compose-config-check.sh --install`), and the schema check still runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse, parseDocument } from 'yaml';
import { ConfigSchema } from '../../src/config';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../src/shared/search-attributes';
import { interpolate, parseEnvFile } from './compose-file';

const root = path.resolve(__dirname, '../..');
const composeText = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
/** With YAML merge keys (<<) applied, as compose does. */
const compose = parse(composeText, { merge: true }) as {
  name?: string;
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string[] | string;
  command?: string[] | string;
  profiles?: string[];
  ports?: string[];
  deploy?: { replicas?: number | string };
  restart?: string;
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string; required?: boolean }>;
  volumes?: string[];
  container_name?: string;
}
const services = compose.services;
const configKeys = Object.keys(ConfigSchema.shape);
const envExample = parseEnvFile(fs.readFileSync(path.join(root, '.env.example'), 'utf8'));



/** Container port of a "127.0.0.1:HOST:CONTAINER" / "HOST:CONTAINER" mapping. */
const containerPorts = (s: Service) => (s.ports ?? []).map((p) => Number(p.split(':').pop()));
const hostBindings = (s: Service) => (s.ports ?? []).map((p) => p.split(':').slice(0, -1).join(':'));

/** Environment variables src/paper-exchange/main.ts reads (process.env.X and intEnv('X', ...)). */
function paperExchangeEnv(): string[] {
  const src = fs.readFileSync(path.join(root, 'src/paper-exchange/main.ts'), 'utf8');
  const names = new Set<string>(['LOG_LEVEL']); // read by createLogger (src/logging.ts)
  for (const m of src.matchAll(/process\.env\.([A-Z_]+)|intEnv\('([A-Z_]+)'/g)) names.add((m[1] ?? m[2])!);
  return [...names];
}

test('docker-compose.yml is valid against the Compose Specification schema', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(__dirname, 'compose-spec.json'), 'utf8'));
  // Draft-07, which is ajv's default; its "$schema" spelling (https, no '#') is not one ajv knows.
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(schema);
  // The schema describes the file as written (extension fields, merge keys and all).
  const raw = parseDocument(composeText, { merge: true }).toJS({ maxAliasCount: 100 });
  const ok = validate(raw);
  expect(ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
  expect(ok).toBe(true);

  // And the schema does catch a broken file (so this test can fail).
  const broken = structuredClone(raw) as { services: Record<string, Record<string, unknown>> };
  broken.services.worker!.healthcheck = { test: ['CMD'], interval: 30 };
  broken.services.redis!.restartt = 'always';
  expect(validate(broken)).toBe(false);
});

/**
 * A compose CLI, found as scripts/compose-config-check.sh finds it: `docker compose`, then
 * `docker-compose`, then the build cached by `scripts/compose-config-check.sh --install`.
 */
function findComposeCli(): { cmd: string[]; version: string } | undefined {
  const which = spawnSync('bash', [path.join(root, 'scripts/compose-config-check.sh'), '--which'], { encoding: 'utf8', timeout: 10_000 });
  if (which.status !== 0) return undefined;
  const cmd = which.stdout.split('\n').filter(Boolean);
  const v = spawnSync(cmd[0]!, [...cmd.slice(1), 'version', '--short'], { encoding: 'utf8', timeout: 10_000 });
  return v.status === 0 ? { cmd, version: v.stdout.trim() } : undefined;
}
const composeCli = findComposeCli();
if (!composeCli) {
  console.warn(
    'SKIPPED: `docker compose config` tests: no compose CLI (tried `docker compose`, `docker-compose`, the cached build). ' +
      'Install one with `bash scripts/compose-config-check.sh --install` (builds Compose v2 with Go into ~/.cache/trade-exec, ' +
      'a few minutes) or `apt-get install docker-compose`.',
  );
}
const withCompose = composeCli ? test : test.skip;

/** A clean environment for compose: the caller's shell variables would override the env file's. */
function composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
  if (process.env.DOCKER_CONFIG) env.DOCKER_CONFIG = process.env.DOCKER_CONFIG;
  return env;
}

interface ResolvedService {
  environment?: Record<string, string | null>;
  entrypoint?: string[];
  command?: string[];
  deploy?: { replicas?: number };
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  profiles?: string[];
  ports?: { host_ip?: string; target: number; published?: string }[];
  depends_on?: Record<string, { condition: string; required?: boolean }>;
}

/** `compose config` with .env.example (and a password), as JSON (Compose v2) or YAML (v1). */
function resolvedConfig(profileArgs: string[], vars: Record<string, string>) {
  const { cmd, version } = composeCli!;
  const format = version.startsWith('1.') ? [] : ['--format', 'json'];
  const out = execFileSync(cmd[0]!, [...cmd.slice(1), '-f', 'docker-compose.yml', '--env-file', '.env.example', ...profileArgs, 'config', ...format], {
    cwd: root,
    env: composeEnv(vars),
    encoding: 'utf8',
    timeout: 10_000,
  });
  return parse(out) as { name: string; services: Record<string, ResolvedService> };
}

withCompose(`\`docker compose config\` accepts it and resolves the services and environment the file means (compose ${composeCli?.version ?? 'not found'})`, () => {
  const vars = { POSTGRES_PASSWORD: 'pw-for-test', REDIS_PASSWORD: 'redispwfortest', COMPOSE_PROFILES: '' };
  const interpolationVars = { ...envExample, ...vars };
  const paperEnv = paperExchangeEnv();
  for (const profileArgs of [[], ['--profile', 'paper']]) {
    const paper = profileArgs.length > 0;
    const resolved = resolvedConfig(profileArgs, vars);
    expect(resolved.name).toBe('trade-exec');
    // The services the file names; the paper exchange only with its profile.
    const expected = Object.keys(services).filter((n) => paper || n !== 'paper-exchange').sort();
    expect([paper, Object.keys(resolved.services).sort()]).toEqual([paper, expected]);

    for (const name of expected) {
      const s = resolved.services[name]!;
      // Compose's interpolation of .env.example gives what this file's own reading of it gives.
      const want = Object.fromEntries(Object.entries(services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), interpolationVars)]));
      expect([name, s.environment ?? {}]).toEqual([name, want]);
      for (const p of s.ports ?? []) expect([name, p.host_ip]).toEqual([name, '127.0.0.1']);
    }
    for (const app of ['worker', 'bridge']) {
      const env = resolved.services[app]!.environment!;
      const parsed = ConfigSchema.safeParse(env);
      expect(parsed.success ? 'valid' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')).toBe('valid');
      for (const k of Object.keys(env)) expect([app, k, configKeys.includes(k)]).toEqual([app, k, true]);
      // Waits for the paper exchange when it runs, not when it doesn't.
      expect(resolved.services[app]!.depends_on?.['paper-exchange']).toMatchObject({ condition: 'service_healthy', required: false });
      expect(resolved.services[app]!.depends_on?.['temporal-setup']?.condition).toBe('service_completed_successfully');
    }
    if (paper) {
      const ex = resolved.services['paper-exchange']!;
      expect(ex.profiles).toEqual(['paper']);
      for (const k of Object.keys(ex.environment ?? {})) expect(['paper-exchange', k, paperEnv.includes(k)]).toEqual(['paper-exchange', k, true]);
      // Its account is the key pair the apps sign with.
      expect(ex.environment!.PAPER_API_KEY).toBe(resolved.services.worker!.environment!.BINANCE_API_KEY);
      expect(ex.environment!.PAPER_API_SECRET).toBe(resolved.services.worker!.environment!.BINANCE_API_SECRET);
    }
    // The scripts' "$$" (compose's escape for the shell's "$") is not interpolated: compose keeps
    // them as written (its output stays escaped) and sh gets single dollars at run time.
    const setup = resolved.services['temporal-setup']!.command!;
    expect(setup).toEqual(services['temporal-setup']!.command);
    for (const sa of SEARCH_ATTRIBUTE_REGISTRATIONS) expect(setup.join(' ')).toContain(`${sa.name}=${sa.type}`);
    expect(resolved.services['temporal-schema']!.command).toEqual(services['temporal-schema']!.command);
    expect(resolved.services.temporal!.entrypoint).toEqual(services.temporal!.entrypoint);
    expect(resolved.services.temporal!.command).toEqual(services.temporal!.command);
    // The server's files, mounted read-only from the repository (the ones `npm run stack` reads).
    const mounts = (resolved.services.temporal!.volumes ?? []).map((v) => [v.type, path.relative(root, v.source), v.target, v.read_only ?? false]);
    expect(mounts).toEqual([
      ['bind', 'deploy/temporal/server.yaml', '/etc/temporal/server.yaml', true],
      ['bind', 'deploy/temporal/dynamicconfig.yaml', '/etc/temporal/dynamicconfig.yaml', true],
    ]);
    // Two workers and two bridges with .env.example.
    expect([resolved.services.worker!.deploy?.replicas, resolved.services.bridge!.deploy?.replicas]).toEqual([2, 2]);
  }

  // STACK_WORKERS / STACK_BRIDGES set the counts.
  const scaled = resolvedConfig([], { ...vars, STACK_WORKERS: '3', STACK_BRIDGES: '1' });
  expect([scaled.services.worker!.deploy?.replicas, scaled.services.bridge!.deploy?.replicas]).toEqual([3, 1]);

  // Without POSTGRES_PASSWORD (empty in .env.example) compose stops with the file's message.
  const { cmd } = composeCli!;
  const refused = spawnSync(cmd[0]!, [...cmd.slice(1), '-f', 'docker-compose.yml', '--env-file', '.env.example', 'config', '--quiet'], {
    cwd: root,
    env: composeEnv({ POSTGRES_PASSWORD: '', REDIS_PASSWORD: 'redispwfortest' }),
    encoding: 'utf8',
    timeout: 10_000,
  });
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toMatch(/set POSTGRES_PASSWORD in \.env/);
}, 20_000);

test('the services: data stores, Temporal on PostgreSQL, UI, search attributes, scalable worker, bridge, paper exchange under a profile', () => {
  expect(Object.keys(services).sort()).toEqual([
    'bridge', 'paper-exchange', 'postgres', 'redis', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker',
  ]);

  // Temporal persists to the same PostgreSQL: its schemas are set up first, by a one-shot that
  // must succeed, with the same host, port and user; the password only from .env.
  const temporal = services.temporal!;
  expect(temporal.environment).toMatchObject({ POSTGRES_SEEDS: 'postgres', DB_PORT: '5432', POSTGRES_USER: services.postgres!.environment!.POSTGRES_USER });
  expect(temporal.depends_on?.postgres?.condition).toBe('service_healthy');
  expect(temporal.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
  const schema = services['temporal-schema']!;
  expect(schema.restart).toBe('no');
  expect(schema.depends_on?.postgres?.condition).toBe('service_healthy');
  expect(schema.environment).toMatchObject({ SQL_HOST: 'postgres', SQL_PORT: '5432', SQL_USER: services.postgres!.environment!.POSTGRES_USER });
  expect(String(schema.environment!.SQL_PASSWORD)).toMatch(/^\$\{POSTGRES_PASSWORD:\?[^}]+\}$/);
  expect(String(schema.command)).not.toMatch(/--password|\s-pw\b|--pw\b/);
  // The three Temporal services run the image of deploy/temporal/Dockerfile; nothing is pulled.
  for (const name of ['temporal-schema', 'temporal', 'temporal-setup']) {
    expect([name, services[name]!.build]).toEqual([name, { context: './deploy/temporal', args: { TEMPORAL_SERVER_VERSION: expect.stringMatching(/^v\d+\.\d+\.\d+$/) } }]);
    expect([name, services[name]!.image]).toEqual([name, services.temporal!.image]);
  }
  expect(fs.existsSync(path.join(root, 'deploy/temporal/Dockerfile'))).toBe(true);
  // The server's own address, from the container at start: 0.0.0.0 is where it listens, not an address.
  expect(String(temporal.entrypoint)).toMatch(/\$\$\(hostname -i\)[^]*export BROADCAST_ADDRESS;/);
  expect(temporal.environment!.BIND_ON_IP).toBe('0.0.0.0');
  expect(temporal.environment!.BROADCAST_ADDRESS).toBeUndefined();
  for (const v of temporal.volumes ?? []) {
    const [source, , mode] = v.split(':');
    expect([v, fs.existsSync(path.join(root, source!)), mode]).toEqual([v, true, 'ro']);
  }

  // Every search attribute the code registers, with its type, is created by temporal-setup, and the apps wait for it.
  const setup = String(services['temporal-setup']!.command);
  for (const sa of SEARCH_ATTRIBUTE_REGISTRATIONS) expect(setup).toContain(`${sa.name}=${sa.type}`);
  expect(setup.match(/\b[A-Za-z]+=(Keyword|KeywordList|Text|Int|Double|Bool|Datetime)\b/g)).toHaveLength(SEARCH_ATTRIBUTE_REGISTRATIONS.length);

  for (const app of ['worker', 'bridge']) {
    const s = services[app]!;
    expect(s.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      'temporal-setup': { condition: 'service_completed_successfully' },
      'paper-exchange': { condition: 'service_healthy', required: false },
    });
    expect(s.container_name).toBeUndefined(); // scalable
    expect(s.ports ?? []).toEqual([]); // no fixed host port: --scale worker=3 works
    expect(String(s.deploy?.replicas)).toMatch(/^\$\{STACK_(WORKERS|BRIDGES):-\d+\}$/);
  }
  expect(services.worker!.environment!.TRADE_EXEC_ROLES).toBe('worker');
  expect(services.bridge!.environment!.TRADE_EXEC_ROLES).toBe('bridge');
  expect(services['paper-exchange']!.profiles).toEqual(['paper']);
  for (const [name, s] of Object.entries(services)) {
    if (name === 'paper-exchange') continue;
    expect([name, s.profiles]).toEqual([name, undefined]);
  }

  // Health checks on everything long-running; the worker's needs a poller on the task queue.
  for (const name of ['temporal-schema', 'temporal-setup']) expect([name, services[name]!.restart]).toEqual([name, 'no']);
  for (const name of ['postgres', 'redis', 'temporal', 'worker', 'bridge', 'paper-exchange']) {
    expect([name, Array.isArray(services[name]!.healthcheck?.test)]).toEqual([name, true]);
  }
  expect(services.worker!.healthcheck!.test).toEqual(['CMD', 'node', 'bin/trade-exec.js', 'health', '--pollers', '--quiet']);
  expect(fs.existsSync(path.join(root, 'bin/trade-exec.js'))).toBe(true);
  expect(String(services['paper-exchange']!.command)).toContain('src/paper-exchange/main.ts');
  expect(fs.existsSync(path.join(root, 'src/paper-exchange/main.ts'))).toBe(true);

  // Named volumes, all of them used.
  const used = Object.values(services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]));
  expect(Object.keys(compose.volumes).sort()).toEqual(['postgres-data', 'redis-data']);
  for (const v of Object.keys(compose.volumes)) expect(used).toContain(v);
  // Published ports only on loopback.
  for (const s of Object.values(services)) for (const h of hostBindings(s)) expect(h).toMatch(/^127\.0\.0\.1:\d+$/);
});

test('environment variables and addresses match what the code reads', () => {
  const paperEnv = paperExchangeEnv();
  expect(paperEnv).toEqual(expect.arrayContaining(['PAPER_EXCHANGE_PORT', 'PAPER_EXCHANGE_HOST', 'PAPER_API_KEY', 'PAPER_API_SECRET']));
  const vars = { ...envExample, POSTGRES_PASSWORD: 'pw-for-test', REDIS_PASSWORD: 'redispwfortest' };

  for (const app of ['worker', 'bridge']) {
    const env = services[app]!.environment!;
    // Every variable given to the app is one src/config.ts reads (a typo would be silently ignored).
    for (const k of Object.keys(env)) expect([app, k, configKeys.includes(k)]).toEqual([app, k, true]);
    // Everything the service needs to reach its dependencies is set.
    for (const k of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'REDIS_URL', 'BINANCE_BASE_URL', 'BINANCE_API_KEY', 'BINANCE_API_SECRET', 'TRADE_EXEC_ROLES']) {
      expect([app, k, k in env]).toEqual([app, k, true]);
    }
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), vars)]));
    // The resolved environment passes the service's own config validation.
    const parsed = ConfigSchema.safeParse(resolved);
    expect(parsed.success ? 'valid' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')).toBe('valid');

    // Addresses point at the services and the ports they listen on.
    const [tHost, tPort] = resolved.TEMPORAL_ADDRESS!.split(':');
    expect(containerPorts(services[tHost!]!)).toContain(Number(tPort));
    const db = new URL(resolved.DATABASE_URL!);
    expect(db.hostname).toBe('postgres');
    expect(Number(db.port)).toBe(5432);
    expect(db.username).toBe(services.postgres!.environment!.POSTGRES_USER);
    expect(db.pathname).toBe(`/${services.postgres!.environment!.POSTGRES_DB}`);
    expect(containerPorts(services.postgres!)).toContain(5432);
    const redis = new URL(resolved.REDIS_URL!);
    expect(redis.hostname).toBe('redis');
    // Redis requires its ACL user; the URL carries the password from .env.
    expect([redis.username, redis.password]).toEqual(['trade', 'redispwfortest']);
    expect(String(services.redis!.command)).toContain('user trade on >%s');
    expect(containerPorts(services.redis!)).toContain(Number(redis.port));
    // With the example .env (paper trading) the exchange is the paper-exchange service on its port.
    const ex = new URL(resolved.BINANCE_BASE_URL!);
    expect(ex.hostname).toBe('paper-exchange');
    const paperPort = Number(services['paper-exchange']!.environment!.PAPER_EXCHANGE_PORT);
    expect(Number(ex.port)).toBe(paperPort);
    expect(new URL(resolved.BINANCE_WS_API_URL!).port).toBe(String(paperPort));
    expect(containerPorts(services['paper-exchange']!)).toContain(paperPort);
  }
  expect(services.worker!.environment!.METRICS_PORT).not.toBe(services.bridge!.environment!.METRICS_PORT);
  expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe(services.worker!.environment!.TEMPORAL_ADDRESS);

  // The paper exchange gets only variables its main reads, and its account is the app's key pair.
  const paper = services['paper-exchange']!.environment!;
  for (const k of Object.keys(paper)) expect(['paper-exchange', k, paperEnv.includes(k)]).toEqual(['paper-exchange', k, true]);
  expect(paper.PAPER_API_KEY).toContain('${BINANCE_API_KEY');
  expect(paper.PAPER_API_SECRET).toContain('${BINANCE_API_SECRET');
  expect(paper.PAPER_EXCHANGE_HOST).toBe('0.0.0.0');
});

test('no secret in the file; every interpolated variable is documented in .env.example or has a default', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      if (/PASSWORD|PWD|SECRET|API_KEY/.test(k)) expect([name, k, String(v)]).toEqual([name, k, expect.stringMatching(/^\$\{[A-Z_]+:\?[^}]+\}$|^\$\{[A-Z_]+:-\}$/)]);
      if (k === 'DATABASE_URL') expect(String(v)).toMatch(/:\$\{POSTGRES_PASSWORD:\?[^}]+\}@/);
    }
  }
  expect(composeText).not.toContain(PAPER_DEFAULT_API_SECRET);
  expect(composeText).not.toContain(PAPER_DEFAULT_API_KEY);
  expect(composeText).not.toMatch(/change-me/);
  // Required (:?) variables are in .env.example; others have defaults.
  for (const m of composeText.matchAll(/\$\{([A-Z0-9_]+)(:?[-?])?[^}]*\}/g)) {
    const [, name, op] = m;
    if (op === ':?' || op === '?' || op === undefined) expect([name, name! in envExample]).toEqual([name, true]);
  }
  // .env.example names only variables that compose or the service reads.
  for (const k of Object.keys(envExample)) {
    const known = configKeys.includes(k) || composeText.includes(`\${${k}`) || k === 'COMPOSE_PROFILES';
    expect([k, known]).toEqual([k, true]);
  }
  expect(envExample.POSTGRES_PASSWORD).toBe(''); // the example holds no real password
  expect(envExample.REDIS_PASSWORD).toBe('');
  expect(() => interpolate(services.worker!.environment!.REDIS_URL!, { ...envExample, POSTGRES_PASSWORD: 'x' })).toThrow(/set REDIS_PASSWORD in \.env/);
  expect(envExample.COMPOSE_PROFILES).toBe('paper');
  // Without POSTGRES_PASSWORD, interpolation stops with a message instead of using a default.
  expect(() => interpolate(services.worker!.environment!.DATABASE_URL!, envExample)).toThrow(/set POSTGRES_PASSWORD in \.env/);
});

test('the image contains what the services run', () => {
  const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  for (const dir of ['bin', 'src', 'workflows', 'activities']) expect(dockerfile).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'));
  expect(dockerfile).toMatch(/npm ci --omit=dev/);
  const cmd = /^CMD \["node_modules\/\.bin\/tsx", "([^"]+)"\]$/m.exec(dockerfile);
  expect(cmd).not.toBeNull();
  expect(fs.existsSync(path.join(root, cmd![1]!))).toBe(true);
  const ignore = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', '.env', '.git']) expect(ignore).toContain(p);
});
