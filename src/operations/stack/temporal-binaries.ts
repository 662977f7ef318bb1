/**
 * The real Temporal server binaries the stack runs (see topology.ts), found or built the way the
 * `temporal` CLI is (go-binary.ts: `$<ENV>_PATH`, then PATH, then the per-user cache
 * `${XDG_CACHE_HOME:-$HOME/.cache}/trade-exec/<name>-<version>/<name>`, then `go install`):
 *
 *  - temporal-server     go.temporal.io/server/cmd/server@TEMPORAL_SERVER_VERSION     $TEMPORAL_SERVER_PATH
 *  - temporal-sql-tool   go.temporal.io/server/cmd/tools/sql@TEMPORAL_SERVER_VERSION  $TEMPORAL_SQL_TOOL_PATH
 *  - temporal-ui-server  github.com/temporalio/ui-server/v2/cmd/server@TEMPORAL_UI_SERVER_VERSION  $TEMPORAL_UI_SERVER_PATH
 *
 * Unlike the CLI, each binary must be exactly the version named in topology.ts: the SQL tool
 * installs the schemas this server version expects, and the stack was tested with these.
 * All three are urfave/cli apps, whose `--version` prints "<app name> version <version>".
 */
import {
  type GoBinaryLocation,
  type GoBinarySpec,
  type Progress,
  checkVersionLine,
  goBinaryCachePath,
  locateGoBinary,
  readVersionLine,
} from '../go-binary';
import { cliEnv } from '../temporal-cli';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_SERVER_VERSION } from './topology';

export type { Progress } from '../go-binary';

export const defaultProgress: Progress = (line) => process.stderr.write(`[temporal-binaries] ${line}\n`);

const bare = (version: string): string => version.replace(/^v/, '');

/**
 * Runs `<bin> --version` and checks the line against `<appName> version <version>`. TEMPORAL_*
 * variables are removed first: the server's flags read TEMPORAL_* settings from the environment,
 * and none of them should matter to a version check.
 */
async function verifyUrfaveVersion(bin: string, appName: string, version: string): Promise<string> {
  const line = await readVersionLine(bin, cliEnv(process.env));
  const expectedLine = `${appName} version ${version}`;
  return checkVersionLine(bin, line, { pattern: new RegExp(`^${escapeRegExp(appName)} version (\\S+)$`), version, expectedLine });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `temporal-server --version` prints "temporal version 1.32.1" (app name "temporal", version headers.ServerVersion). */
export async function verifyTemporalServer(bin: string): Promise<string> {
  try {
    return await verifyUrfaveVersion(bin, 'temporal', bare(TEMPORAL_SERVER_VERSION));
  } catch (e) {
    // The CLI's app is also called "temporal"; it adds "(Server x, UI y)", which tells them apart.
    const hint = /\(Server .*, UI .*\)/.test((e as Error).message) ? ' (that is the Temporal CLI, not the Temporal server)' : '';
    throw new Error(`${(e as Error).message}${hint}`);
  }
}

/** `temporal-sql-tool --version` prints "temporal-sql-tool version 1.32.1". */
export function verifyTemporalSqlTool(bin: string): Promise<string> {
  return verifyUrfaveVersion(bin, 'temporal-sql-tool', bare(TEMPORAL_SERVER_VERSION));
}

/** The UI server's `--version` prints "Temporal UI version 2.42.1" (app name "Temporal UI", version.UIVersion). */
export function verifyTemporalUiServer(bin: string): Promise<string> {
  return verifyUrfaveVersion(bin, 'Temporal UI', bare(TEMPORAL_UI_SERVER_VERSION));
}

export const TEMPORAL_SERVER_SPEC: GoBinarySpec = {
  title: 'Temporal server',
  command: 'temporal-server',
  envVar: 'TEMPORAL_SERVER_PATH',
  module: 'go.temporal.io/server/cmd/server',
  version: TEMPORAL_SERVER_VERSION,
  installedName: 'server',
  cacheDir: `temporal-server-${TEMPORAL_SERVER_VERSION}`,
  cacheFile: 'temporal-server',
  // Its version is a constant in the source (headers.ServerVersion), so no -ldflags are needed.
  buildNote: 'measured: about 10 min and a 211 MB binary on a loaded 2-core machine',
  verify: verifyTemporalServer,
};

export const TEMPORAL_SQL_TOOL_SPEC: GoBinarySpec = {
  title: 'Temporal SQL tool',
  command: 'temporal-sql-tool',
  envVar: 'TEMPORAL_SQL_TOOL_PATH',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: TEMPORAL_SERVER_VERSION,
  installedName: 'sql',
  cacheDir: `temporal-sql-tool-${TEMPORAL_SERVER_VERSION}`,
  cacheFile: 'temporal-sql-tool',
  buildNote: 'a few minutes; much of it is shared with the server build through the Go build cache',
  verify: verifyTemporalSqlTool,
};

/**
 * v2.42.1 is the UI the CLI v1.5.1 embeds; its go.mod has no replace directive (so `go install
 * module@version` works) and needs Go 1.24. Newer UI servers need Go 1.26.10.
 */
export const TEMPORAL_UI_SERVER_SPEC: GoBinarySpec = {
  title: 'Temporal UI server',
  command: 'temporal-ui-server',
  envVar: 'TEMPORAL_UI_SERVER_PATH',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: TEMPORAL_UI_SERVER_VERSION,
  installedName: 'server',
  cacheDir: `temporal-ui-server-${TEMPORAL_UI_SERVER_VERSION}`,
  cacheFile: 'temporal-ui-server',
  buildNote: 'a few minutes',
  verify: verifyTemporalUiServer,
};

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  /** Undefined when `ui: false` was given. */
  uiServer: string | undefined;
}

export interface EnsureTemporalServerBinariesOptions {
  /** Environment to read the *_PATH variables, PATH, XDG_CACHE_HOME, HOME from, and to run go in (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Heartbeat interval while building or waiting for another build (default 15 s). */
  heartbeatMs?: number;
  /** Build with Go when a binary is not found (default true). */
  allowBuild?: boolean;
  /** Give up waiting for another process's build after this long (default 30 min). */
  lockTimeoutMs?: number;
  /** Also find (or build) the UI server (default true); `false` skips it, e.g. for a stack without UI. */
  ui?: boolean;
}

/** Where each binary came from, for callers that report it. */
export interface TemporalServerBinaryLocations {
  server: GoBinaryLocation;
  sqlTool: GoBinaryLocation;
  uiServer: GoBinaryLocation | undefined;
}

/**
 * Finds or builds the three binaries, one after another: the builds share Go's module and build
 * caches, and on 2 cores parallel builds would only compete for them.
 */
export async function locateTemporalServerBinaries(
  progress: Progress = defaultProgress,
  opts: EnsureTemporalServerBinariesOptions = {},
): Promise<TemporalServerBinaryLocations> {
  const { ui = true, ...locateOpts } = opts;
  const server = await locateGoBinary(TEMPORAL_SERVER_SPEC, progress, locateOpts);
  const sqlTool = await locateGoBinary(TEMPORAL_SQL_TOOL_SPEC, progress, locateOpts);
  const uiServer = ui ? await locateGoBinary(TEMPORAL_UI_SERVER_SPEC, progress, locateOpts) : undefined;
  return { server, sqlTool, uiServer };
}

/** Like locateTemporalServerBinaries, returning only the paths. */
export async function ensureTemporalServerBinaries(
  progress: Progress = defaultProgress,
  opts: EnsureTemporalServerBinariesOptions = {},
): Promise<TemporalServerBinaries> {
  const found = await locateTemporalServerBinaries(progress, opts);
  return { server: found.server.path, sqlTool: found.sqlTool.path, uiServer: found.uiServer?.path };
}

/** The cache paths a build puts the binaries at (where `mkdir -p && cp` of a hand-made build must go). */
export function temporalServerBinaryCachePaths(env: NodeJS.ProcessEnv = process.env): {
  server: string;
  sqlTool: string;
  uiServer: string;
} {
  return {
    server: goBinaryCachePath(TEMPORAL_SERVER_SPEC, env),
    sqlTool: goBinaryCachePath(TEMPORAL_SQL_TOOL_SPEC, env),
    uiServer: goBinaryCachePath(TEMPORAL_UI_SERVER_SPEC, env),
  };
}
