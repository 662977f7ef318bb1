/**
 * docker-compose.yml describes the production topology of src/operations/stack/topology.ts (what
 * `npm run stack` runs as local processes): the same Temporal server version (the image of
 * deploy/temporal/Dockerfile), the same configuration files mounted, the server rendered with the
 * same environment variables, the same schemas set up with the same plugin, the same namespace
 * retention and search attributes, the same UI server version, the same process roles and counts.
 *
 * topologyDifferences() lists every way the file differs, each naming the field; the first test
 * wants none. The second mutates a copy of the parsed file (or of the Dockerfile) once per check
 * and shows that the check reports it, so no check can silently pass. No services needed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  DEFAULT_TEMPORAL_PORTS,
  NAMESPACE_RETENTION_HOURS,
  SERVICE_ROLES,
  TEMPORAL_DYNAMIC_CONFIG,
  TEMPORAL_SCHEMAS,
  TEMPORAL_SERVER_CONFIG,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_SQL_PLUGIN,
  TEMPORAL_UI_SERVER_VERSION,
  temporalServerEnv,
} from '../../src/operations/stack/topology';
import { TEMPORAL_CLI_VERSION } from '../../src/operations/temporal-cli';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../src/shared/search-attributes';
import { interpolate, parseEnvFile } from '../compose/compose-file';

const root = path.resolve(__dirname, '../..');

interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> } | string;
  entrypoint?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  deploy?: { replicas?: number | string };
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string };
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
}

interface Inputs {
  compose: Compose;
  /** deploy/temporal/Dockerfile's text. */
  dockerfile: string;
  /** .env.example's variables. */
  envExample: Record<string, string>;
}

function readInputs(): Inputs {
  return {
    // With YAML merge keys (<<) applied, as compose does.
    compose: parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose,
    dockerfile: fs.readFileSync(path.join(root, 'deploy/temporal/Dockerfile'), 'utf8'),
    envExample: parseEnvFile(fs.readFileSync(path.join(root, '.env.example'), 'utf8')),
  };
}



const words = (v: string[] | string | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
/** A service's command (or entrypoint) as one text: the shell scripts are one folded string. */
const script = (v: string[] | string | undefined): string => words(v).join(' ');
const show = (v: unknown): string => JSON.stringify(v);
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

const TEMPORAL_IMAGE_SERVICES = ['temporal-schema', 'temporal', 'temporal-setup'] as const;
/** The placeholder the password is interpolated with; the value is compared, never written. */
const PASSWORD = 'password-for-topology-test';

/** Every way docker-compose.yml (and the Dockerfile it builds) differs from topology.ts. */
function topologyDifferences({ compose, dockerfile, envExample }: Inputs): string[] {
  const diffs: string[] = [];
  const differ = (field: string, actual: unknown, expected: unknown) =>
    diffs.push(`${field}: is ${show(actual)}, topology.ts says ${show(expected)}`);
  const services = compose.services ?? {};
  const missing = (name: string) => {
    if (services[name]) return false;
    diffs.push(`services.${name}: missing`);
    return true;
  };

  // ---- the server version: the Dockerfile's build argument and what it installs with it ----
  const argDefault = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1];
  if (argDefault('TEMPORAL_SERVER_VERSION') !== TEMPORAL_SERVER_VERSION) {
    differ('deploy/temporal/Dockerfile ARG TEMPORAL_SERVER_VERSION', argDefault('TEMPORAL_SERVER_VERSION'), TEMPORAL_SERVER_VERSION);
  }
  if (argDefault('TEMPORAL_CLI_VERSION') !== TEMPORAL_CLI_VERSION) {
    differ('deploy/temporal/Dockerfile ARG TEMPORAL_CLI_VERSION', argDefault('TEMPORAL_CLI_VERSION'), TEMPORAL_CLI_VERSION);
  }
  for (const module of ['go.temporal.io/server/cmd/server', 'go.temporal.io/server/cmd/tools/sql']) {
    if (!dockerfile.includes(`go install "${module}@\${TEMPORAL_SERVER_VERSION}"`)) {
      diffs.push(`deploy/temporal/Dockerfile: no \`go install "${module}@\${TEMPORAL_SERVER_VERSION}"\``);
    }
  }
  if (!dockerfile.includes('"-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}"') ||
      !dockerfile.includes('"github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}"')) {
    diffs.push('deploy/temporal/Dockerfile: the CLI is not `go install`ed at ${TEMPORAL_CLI_VERSION} with its Version ldflag');
  }
  const configDir = `./${path.posix.dirname(TEMPORAL_SERVER_CONFIG)}`;
  let temporalImage: string | undefined;
  for (const name of TEMPORAL_IMAGE_SERVICES) {
    if (missing(name)) continue;
    const s = services[name]!;
    const build = typeof s.build === 'string' ? { context: s.build } : s.build;
    if (build?.context !== configDir) differ(`services.${name}.build.context`, build?.context, configDir);
    if ((build?.dockerfile ?? 'Dockerfile') !== 'Dockerfile') differ(`services.${name}.build.dockerfile`, build?.dockerfile, 'Dockerfile');
    const arg = build?.args?.TEMPORAL_SERVER_VERSION;
    if (arg !== TEMPORAL_SERVER_VERSION) differ(`services.${name}.build.args.TEMPORAL_SERVER_VERSION`, arg, TEMPORAL_SERVER_VERSION);
    if (!s.image?.endsWith(`:${TEMPORAL_SERVER_VERSION}`)) differ(`services.${name}.image (tag)`, s.image, `…:${TEMPORAL_SERVER_VERSION}`);
    temporalImage ??= s.image;
    if (s.image !== temporalImage) differ(`services.${name}.image`, s.image, temporalImage);
  }

  // ---- the server: configuration files, command, environment ----
  if (!missing('temporal')) {
    const t = services.temporal!;
    const command = words(t.command);
    const configFile = command[command.indexOf('--config-file') + 1];
    const expectedCommand = ['temporal-server', '--config-file', configFile ?? '?', '--allow-no-auth', 'start'];
    if (!command.includes('--config-file') || !sameList(command, expectedCommand)) differ('services.temporal.command', command, expectedCommand);
    const mounts = (t.volumes ?? []).map(String);
    const dynamicConfigPath = String(t.environment?.DYNAMIC_CONFIG_FILE_PATH ?? '');
    for (const [file, target, field] of [
      [TEMPORAL_SERVER_CONFIG, configFile, 'the configuration (--config-file)'],
      [TEMPORAL_DYNAMIC_CONFIG, dynamicConfigPath, 'the dynamic configuration (DYNAMIC_CONFIG_FILE_PATH)'],
    ] as const) {
      const want = `./${file}:${target}:ro`;
      if (!target || !mounts.includes(want)) diffs.push(`services.temporal.volumes: ${field} is not mounted read-only as ${show(want)} (has ${show(mounts)})`);
    }

    // The variables the server template is rendered with: the environment, plus BROADCAST_ADDRESS,
    // which the entrypoint exports (the container's own address is known only at start).
    const env = Object.fromEntries(Object.entries(t.environment ?? {}).map(([k, v]) => [k, String(v)]));
    // ["/bin/sh", "-c", SCRIPT, "$0"]: the script is the third word.
    const entrypoint = words(t.entrypoint)[2] ?? '';
    const exported = [...entrypoint.matchAll(/\bexport ([A-Z_][A-Z0-9_]*)\b/g)].map((m) => m[1]!);
    if (!entrypoint.includes('for addr in $$(hostname -i); do') || !entrypoint.includes('BROADCAST_ADDRESS="$$addr"') || !exported.includes('BROADCAST_ADDRESS')) {
      diffs.push('services.temporal.entrypoint: does not export BROADCAST_ADDRESS from `hostname -i`');
    }
    if (!/exec "\$\$@"$/.test(entrypoint.trim())) diffs.push('services.temporal.entrypoint: does not end in exec "$$@" (the command)');
    const seeds = env.POSTGRES_SEEDS ?? '';
    const expected = temporalServerEnv({
      postgres: { host: seeds, port: Number(env.DB_PORT), user: String(services[seeds]?.environment?.POSTGRES_USER ?? '?'), password: PASSWORD },
      ports: DEFAULT_TEMPORAL_PORTS,
      bindIp: '0.0.0.0',
      dynamicConfigPath,
    });
    const given = [...Object.keys(env), ...exported].sort();
    const names = Object.keys(expected).sort();
    if (!sameList(given, names)) {
      diffs.push(
        `services.temporal.environment (+ entrypoint exports): names differ from temporalServerEnv(): ` +
          `missing ${show(names.filter((n) => !given.includes(n)))}, extra ${show(given.filter((n) => !names.includes(n)))}`,
      );
    }
    if (!/postgres:/.test(services[seeds]?.image ?? '')) differ('services.temporal.environment.POSTGRES_SEEDS (a postgres service)', seeds, 'postgres');
    if (exported.includes('BROADCAST_ADDRESS') && 'BROADCAST_ADDRESS' in env) diffs.push('services.temporal.environment.BROADCAST_ADDRESS: set, but the entrypoint sets it');
    for (const [k, want] of Object.entries(expected)) {
      if (k === 'BROADCAST_ADDRESS' || !(k in env)) continue;
      let got: string;
      try {
        got = interpolate(env[k]!, { POSTGRES_PASSWORD: PASSWORD });
      } catch (e) {
        got = `(${(e as Error).message})`;
      }
      if (got !== want) differ(`services.temporal.environment.${k}`, got, want);
    }
    if (!env.POSTGRES_PWD?.startsWith('${POSTGRES_PASSWORD:?')) differ('services.temporal.environment.POSTGRES_PWD', env.POSTGRES_PWD, '${POSTGRES_PASSWORD:?…}');
    const port = `127.0.0.1:${DEFAULT_TEMPORAL_PORTS.frontendGrpc}:${DEFAULT_TEMPORAL_PORTS.frontendGrpc}`;
    if (!(t.ports ?? []).includes(port)) differ('services.temporal.ports', t.ports, [port]);
    const health = script(t.healthcheck?.test);
    if (!health.includes(`temporal operator cluster health --address 127.0.0.1:${DEFAULT_TEMPORAL_PORTS.frontendGrpc}`)) {
      differ('services.temporal.healthcheck.test', health, `temporal operator cluster health --address 127.0.0.1:${DEFAULT_TEMPORAL_PORTS.frontendGrpc}`);
    }
    // Everything that talks to the server reaches its frontend port.
    const address = `temporal:${DEFAULT_TEMPORAL_PORTS.frontendGrpc}`;
    for (const [name, s] of Object.entries(services)) {
      const a = s.environment?.TEMPORAL_ADDRESS;
      if (a !== undefined && a !== address) differ(`services.${name}.environment.TEMPORAL_ADDRESS`, a, address);
    }
    if (t.depends_on?.['temporal-schema']?.condition !== 'service_completed_successfully') {
      differ('services.temporal.depends_on.temporal-schema.condition', t.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
    }
  }

  // ---- the schemas: databases, schema names, plugin, the password only from the environment ----
  if (!missing('temporal-schema')) {
    const s = services['temporal-schema']!;
    const text = script(s.command);
    const schemas = [...text.matchAll(/\bschema ([^\s;]+) --schema-name ([^\s;]+)/g)].map((m) => ({ database: m[1]!, schemaName: m[2]! }));
    const want = TEMPORAL_SCHEMAS.map(({ database, schemaName }) => ({ database, schemaName }));
    if (show(schemas) !== show(want)) differ('services.temporal-schema.command (schema <database> --schema-name <name>)', schemas, want);
    const tools = [...text.matchAll(/\btemporal-sql-tool\b(.*?)(?=;|$)/g)].map((m) => m[1]!);
    const withoutPlugin = tools.filter((args) => !args.includes(`--plugin ${TEMPORAL_SQL_PLUGIN} `));
    if (tools.length === 0 || withoutPlugin.length > 0) {
      diffs.push(`services.temporal-schema.command: temporal-sql-tool without --plugin ${TEMPORAL_SQL_PLUGIN}: ${show(tools.length ? withoutPlugin : text)}`);
    }
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema "$$@"']) {
      if (!text.includes(`--database "$$db" ${step}`)) diffs.push(`services.temporal-schema.command: no \`${step}\``);
    }
    if (/--password|\s-pw\b|POSTGRES_PASSWORD/.test(text)) diffs.push('services.temporal-schema.command: names the password (use SQL_PASSWORD)');
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
    if (!env.SQL_PASSWORD?.startsWith('${POSTGRES_PASSWORD:?')) differ('services.temporal-schema.environment.SQL_PASSWORD', env.SQL_PASSWORD, '${POSTGRES_PASSWORD:?…}');
    // The same PostgreSQL, port and user as the server.
    const server = services.temporal?.environment ?? {};
    for (const [k, serverKey] of [['SQL_HOST', 'POSTGRES_SEEDS'], ['SQL_PORT', 'DB_PORT'], ['SQL_USER', 'POSTGRES_USER']] as const) {
      if (env[k] !== String(server[serverKey])) differ(`services.temporal-schema.environment.${k}`, env[k], String(server[serverKey]));
    }
    if (s.restart !== 'no') differ('services.temporal-schema.restart', s.restart, 'no');
  }

  // ---- the namespace and its search attributes ----
  if (!missing('temporal-setup')) {
    const text = script(services['temporal-setup']!.command);
    const retentions = [...text.matchAll(/--retention (\S+)/g)].map((m) => m[1]);
    const wantRetention = `${NAMESPACE_RETENTION_HOURS}h`;
    if (!/temporal operator namespace create --namespace "\$\$ns" --retention /.test(text) || !sameList(retentions.map(String), [wantRetention])) {
      differ('services.temporal-setup.command (namespace create --retention)', retentions, [wantRetention]);
    }
    const attrs = /\battrs="([^"]*)"/.exec(text)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    const wantAttrs = SEARCH_ATTRIBUTE_REGISTRATIONS.map((sa) => `${sa.name}=${sa.type}`);
    if (!sameList(attrs, wantAttrs)) differ('services.temporal-setup.command (attrs, the search attributes)', attrs, wantAttrs);
  }

  // ---- the UI ----
  if (!missing('temporal-ui')) {
    const want = `temporalio/ui:${TEMPORAL_UI_SERVER_VERSION.replace(/^v/, '')}`;
    if (services['temporal-ui']!.image !== want) differ('services.temporal-ui.image', services['temporal-ui']!.image, want);
  }

  // ---- the service's processes: roles, counts, metrics ports ----
  for (const [name, spec] of Object.entries(SERVICE_ROLES)) {
    if (missing(name)) continue;
    const s = services[name]!;
    const roles = s.environment?.TRADE_EXEC_ROLES;
    if (roles !== spec.roles) differ(`services.${name}.environment.TRADE_EXEC_ROLES`, roles, spec.roles);
    const replicas = `\${${spec.countVariable}:-${spec.defaultCount}}`;
    if (String(s.deploy?.replicas) !== replicas) differ(`services.${name}.deploy.replicas`, s.deploy?.replicas, replicas);
    const count = envExample[spec.countVariable];
    if (count !== undefined && count !== String(spec.defaultCount)) differ(`.env.example ${spec.countVariable}`, count, String(spec.defaultCount));
    if (String(s.environment?.METRICS_PORT) !== String(spec.metricsPortBase)) differ(`services.${name}.environment.METRICS_PORT`, s.environment?.METRICS_PORT, String(spec.metricsPortBase));
  }
  // No process with a role topology.ts does not know.
  for (const [name, s] of Object.entries(services)) {
    const roles = s.environment?.TRADE_EXEC_ROLES;
    if (roles !== undefined && !Object.values(SERVICE_ROLES).some((r) => r.roles === roles)) {
      differ(`services.${name}.environment.TRADE_EXEC_ROLES`, roles, Object.values(SERVICE_ROLES).map((r) => r.roles));
    }
  }
  return diffs;
}

test('docker-compose.yml and deploy/temporal/Dockerfile follow src/operations/stack/topology.ts', () => {
  const inputs = readInputs();
  expect(topologyDifferences(inputs)).toEqual([]);
  // The mounted files are the stack's own, and they are there.
  for (const file of [TEMPORAL_SERVER_CONFIG, TEMPORAL_DYNAMIC_CONFIG]) expect([file, fs.existsSync(path.join(root, file))]).toEqual([file, true]);
  // The Dockerfile copies nothing of the repository: the configuration is mounted, not baked.
  expect(inputs.dockerfile.match(/^(COPY|ADD) .*$/gm)?.filter((l) => !l.startsWith('COPY --from=build ')) ?? []).toEqual([]);
  expect(inputs.dockerfile).toMatch(/^FROM golang:1\.26 AS build$/m);
  expect(inputs.dockerfile).toMatch(/^FROM debian:[a-z]+-slim$/m);
});

/** One mutation per check, and the field its report must name. */
const mutations: Array<[string, (i: Inputs) => void, string | RegExp]> = [
  ['another server version in the Dockerfile', (i) => { i.dockerfile = i.dockerfile.replace(/^ARG TEMPORAL_SERVER_VERSION=.*$/m, 'ARG TEMPORAL_SERVER_VERSION=v1.29.1'); }, 'deploy/temporal/Dockerfile ARG TEMPORAL_SERVER_VERSION'],
  ['another CLI version in the Dockerfile', (i) => { i.dockerfile = i.dockerfile.replace(/^ARG TEMPORAL_CLI_VERSION=.*$/m, 'ARG TEMPORAL_CLI_VERSION=v1.4.0'); }, 'deploy/temporal/Dockerfile ARG TEMPORAL_CLI_VERSION'],
  ['the SQL tool pinned apart from the server', (i) => { i.dockerfile = i.dockerfile.replace('cmd/tools/sql@${TEMPORAL_SERVER_VERSION}', 'cmd/tools/sql@v1.29.1'); }, 'go.temporal.io/server/cmd/tools/sql@'],
  ['the CLI without its version ldflag', (i) => { i.dockerfile = i.dockerfile.replace(/"-ldflags=[^"]*" /, ''); }, 'the CLI is not'],
  ['another server version as build argument', (i) => { (i.compose.services.temporal!.build as { args: Record<string, string> }).args.TEMPORAL_SERVER_VERSION = 'v1.29.1'; }, 'services.temporal.build.args.TEMPORAL_SERVER_VERSION'],
  ['another build context', (i) => { (i.compose.services['temporal-schema']!.build as { context: string }).context = '.'; }, 'services.temporal-schema.build.context'],
  ['another image for one of the three', (i) => { i.compose.services['temporal-setup']!.image = `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`; }, 'services.temporal-setup.image'],
  ['another image tag', (i) => { i.compose.services.temporal!.image = 'trade-exec-temporal:latest'; }, 'services.temporal.image (tag)'],
  ['the auto-setup image again', (i) => { i.compose.services.temporal!.image = 'temporalio/auto-setup:1.29.1'; delete i.compose.services.temporal!.build; }, 'services.temporal.build.context'],
  ['another config file', (i) => { i.compose.services.temporal!.volumes = ['./config/other.yaml:/etc/temporal/server.yaml:ro', i.compose.services.temporal!.volumes![1]!]; }, 'services.temporal.volumes: the configuration (--config-file)'],
  ['the config mounted where the command does not read it', (i) => { i.compose.services.temporal!.command = ['temporal-server', '--config-file', '/etc/temporal/other.yaml', '--allow-no-auth', 'start']; }, 'services.temporal.volumes: the configuration (--config-file)'],
  ['the dynamic config not mounted', (i) => { i.compose.services.temporal!.volumes = i.compose.services.temporal!.volumes!.slice(0, 1); }, 'services.temporal.volumes: the dynamic configuration'],
  ['the config mounted writable', (i) => { i.compose.services.temporal!.volumes = i.compose.services.temporal!.volumes!.map((v) => v.replace(/:ro$/, '')); }, 'services.temporal.volumes: the configuration'],
  ['another command', (i) => { i.compose.services.temporal!.command = ['temporal-server', '--config-file', '/etc/temporal/server.yaml', 'start']; }, 'services.temporal.command'],
  ['a server variable missing', (i) => { delete i.compose.services.temporal!.environment!.MATCHING_MEMBERSHIP_PORT; }, /services\.temporal\.environment \(\+ entrypoint exports\): names differ .*missing \["MATCHING_MEMBERSHIP_PORT"\]/],
  ['an extra server variable', (i) => { i.compose.services.temporal!.environment!.DB = 'postgres12'; }, /names differ .*extra \["DB"\]/],
  ['BROADCAST_ADDRESS not exported', (i) => { const e = words(i.compose.services.temporal!.entrypoint); e[2] = e[2]!.replace('export BROADCAST_ADDRESS;', ''); i.compose.services.temporal!.entrypoint = e; }, 'services.temporal.entrypoint: does not export BROADCAST_ADDRESS'],
  ['the entrypoint not running the command', (i) => { const e = words(i.compose.services.temporal!.entrypoint); e[2] = e[2]!.replace(/exec "\$\$@"$/, 'temporal-server start'); i.compose.services.temporal!.entrypoint = e; }, 'services.temporal.entrypoint: does not end in exec'],
  ['another port for a service', (i) => { i.compose.services.temporal!.environment!.HISTORY_GRPC_PORT = '7300'; }, 'services.temporal.environment.HISTORY_GRPC_PORT'],
  ['another bind address', (i) => { i.compose.services.temporal!.environment!.BIND_ON_IP = '127.0.0.1'; }, 'services.temporal.environment.BIND_ON_IP'],
  ['another database', (i) => { i.compose.services.temporal!.environment!.TEMPORAL_VISIBILITY_DB = 'visibility'; }, 'services.temporal.environment.TEMPORAL_VISIBILITY_DB'],
  ['a written password', (i) => { i.compose.services.temporal!.environment!.POSTGRES_PWD = 'hunter2'; }, 'services.temporal.environment.POSTGRES_PWD'],
  ['the health check elsewhere', (i) => { i.compose.services.temporal!.healthcheck = { test: ['CMD-SHELL', 'true'] }; }, 'services.temporal.healthcheck.test'],
  ['a client of another port', (i) => { i.compose.services['temporal-ui']!.environment!.TEMPORAL_ADDRESS = 'temporal:7234'; }, 'services.temporal-ui.environment.TEMPORAL_ADDRESS'],
  ['the server not waiting for the schema', (i) => { delete i.compose.services.temporal!.depends_on!['temporal-schema']; }, 'services.temporal.depends_on.temporal-schema.condition'],
  ['another schema name', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace('postgresql/v12/visibility', 'postgresql/v96/visibility'); }, 'services.temporal-schema.command (schema <database> --schema-name <name>)'],
  ['a schema into another database', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace('schema temporal_visibility ', 'schema visibility '); }, 'services.temporal-schema.command (schema <database> --schema-name <name>)'],
  ['a schema left out', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace(/;\s*schema temporal_visibility [^;]*$/, ''); }, 'services.temporal-schema.command (schema <database> --schema-name <name>)'],
  ['another plugin', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace(/--plugin postgres12 --database "\$\$db" setup-schema/, '--plugin mysql8 --database "$$db" setup-schema'); }, 'services.temporal-schema.command: temporal-sql-tool without --plugin postgres12'],
  ['no setup-schema', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace('--database "$$db" setup-schema -v 0.0', '--database "$$db" update-schema "$$@"'); }, 'services.temporal-schema.command: no `setup-schema -v 0.0`'],
  ['the password on the command line', (i) => { const s = i.compose.services['temporal-schema']!; s.command = script(s.command).replace('create-database', '--password "$$SQL_PASSWORD" create-database'); }, 'services.temporal-schema.command: names the password'],
  ['the schema tool on another PostgreSQL', (i) => { i.compose.services['temporal-schema']!.environment!.SQL_HOST = 'db'; }, 'services.temporal-schema.environment.SQL_HOST'],
  ['another retention', (i) => { const s = i.compose.services['temporal-setup']!; s.command = script(s.command).replace(`--retention ${NAMESPACE_RETENTION_HOURS}h`, '--retention 24h'); }, 'services.temporal-setup.command (namespace create --retention)'],
  ['no namespace created', (i) => { const s = i.compose.services['temporal-setup']!; s.command = script(s.command).replace(/temporal operator namespace create [^|;]*\|\|/, ''); }, 'services.temporal-setup.command (namespace create --retention)'],
  ['a search attribute missing', (i) => { const s = i.compose.services['temporal-setup']!; s.command = script(s.command).replace(' ClientOrderId=KeywordList', ''); }, 'services.temporal-setup.command (attrs, the search attributes)'],
  ['a search attribute of another type', (i) => { const s = i.compose.services['temporal-setup']!; s.command = script(s.command).replace('TradeStatus=Keyword', 'TradeStatus=Text'); }, 'services.temporal-setup.command (attrs, the search attributes)'],
  ['another UI version', (i) => { i.compose.services['temporal-ui']!.image = 'temporalio/ui:2.40.0'; }, 'services.temporal-ui.image'],
  ['another worker role', (i) => { i.compose.services.worker!.environment!.TRADE_EXEC_ROLES = 'worker,bridge'; }, 'services.worker.environment.TRADE_EXEC_ROLES'],
  ['another bridge count', (i) => { i.compose.services.bridge!.deploy = { replicas: '${STACK_BRIDGES:-1}' }; }, 'services.bridge.deploy.replicas'],
  ['a fixed worker count', (i) => { i.compose.services.worker!.deploy = { replicas: 2 }; }, 'services.worker.deploy.replicas'],
  ['another default in .env.example', (i) => { i.envExample.STACK_WORKERS = '3'; }, '.env.example STACK_WORKERS'],
  ['another metrics port', (i) => { i.compose.services.bridge!.environment!.METRICS_PORT = '9465'; }, 'services.bridge.environment.METRICS_PORT'],
  ['a process with an unknown role', (i) => { i.compose.services.reconciler = { environment: { TRADE_EXEC_ROLES: 'reconciler' } }; }, 'services.reconciler.environment.TRADE_EXEC_ROLES'],
  ['a service gone', (i) => { delete i.compose.services['temporal-schema']; }, 'services.temporal-schema: missing'],
];

test.each(mutations)('each check can fail: %s is reported', (_label, mutate, field) => {
  const inputs = readInputs();
  const copy: Inputs = { compose: structuredClone(inputs.compose), dockerfile: inputs.dockerfile, envExample: { ...inputs.envExample } };
  mutate(copy);
  const diffs = topologyDifferences(copy);
  const named = diffs.filter((d) => (typeof field === 'string' ? d.includes(field) : field.test(d)));
  expect([diffs, named.length > 0]).toEqual([diffs, true]);
});
