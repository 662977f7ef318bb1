/**
 * The one place that finds (or makes) a `temporal` CLI binary, in this order:
 *
 *  1. `$TEMPORAL_CLI_PATH` (must work, else we fail: an explicit setting is never ignored);
 *  2. `temporal` on `$PATH`;
 *  3. the per-user cache `${XDG_CACHE_HOME:-$HOME/.cache}/trade-exec/temporal-cli-v1.5.1/temporal`
 *     (then the SDK-download cache `.../trade-exec/temporal-cli-sdk-download/temporal`);
 *  4. build the official CLI with `go install github.com/temporalio/cli/cmd/temporal@v1.5.1`
 *     into a temp dir next to the cache and rename it into place (a killed build never leaves a
 *     half-written binary), under a lock file so two processes never build at once;
 *  5. without Go: the Temporal SDK's own download (TestWorkflowEnvironment.createLocal with the
 *     default `cached-download` executable, into a temp dir; the file is then moved to the
 *     SDK-download cache). It needs internet access to temporal.download.
 *
 * Every candidate is checked with `temporal --version`. Steps 1-4 (and their lock) are the generic
 * go-binary.ts; only the SDK download is specific to the CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type GoBinarySpec,
  type Progress,
  goBinaryCachePath,
  goBinaryCacheRoot,
  findGoBinary,
  isExecutableFile,
  locateGoBinary,
  readVersionLine,
} from './go-binary';

export type { Progress } from './go-binary';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'built' | 'downloaded';

export interface TemporalCliLocation {
  path: string;
  source: TemporalCliSource;
  /** First line of `temporal --version`. */
  version: string;
}

export interface EnsureTemporalCliOptions {
  /** Environment to read TEMPORAL_CLI_PATH, PATH, XDG_CACHE_HOME, HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Heartbeat interval while building or waiting for another build (default 15 s). */
  heartbeatMs?: number;
  /** Build with Go when nothing is found (default true). */
  allowBuild?: boolean;
  /** Use the SDK download when Go is missing (default true unless TEMPORAL_CLI_NO_DOWNLOAD=1). */
  allowDownload?: boolean;
  /** Give up waiting for another process's build after this long (default 30 min). */
  lockTimeoutMs?: number;
}

export const defaultProgress: Progress = (line) => process.stderr.write(`[temporal-cli] ${line}\n`);

export function temporalCliCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return goBinaryCacheRoot(env);
}

/** Where the Go build puts the binary. */
export function temporalCliCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return goBinaryCachePath(TEMPORAL_CLI_SPEC, env);
}

/** Where the SDK-download fallback puts the binary. */
export function temporalCliDownloadCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(temporalCliCacheRoot(env), 'temporal-cli-sdk-download', 'temporal');
}

/** Run `<bin> --version`; resolves to its first line or rejects with a readable error. */
export async function verifyTemporalCli(bin: string, timeoutMs = 30_000): Promise<string> {
  const first = await readVersionLine(bin, cliEnv(process.env), timeoutMs);
  if (!/^temporal version /.test(first)) throw new Error(`${bin} --version printed ${JSON.stringify(first)}, not "temporal version ..."`);
  return first;
}

/** The environment for running the CLI: client settings (TEMPORAL_ADDRESS, ...) removed. */
export function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('TEMPORAL_')) out[k] = v;
  return out;
}

/**
 * The CLI as go-binary.ts builds it. verifyTemporalCli accepts any `temporal version ...`, not only
 * v1.5.1, as this file always has (a `temporal` on PATH of another release keeps working).
 */
const TEMPORAL_CLI_SPEC: GoBinarySpec = {
  title: 'Temporal CLI',
  command: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  module: TEMPORAL_CLI_MODULE,
  version: TEMPORAL_CLI_VERSION,
  installedName: 'temporal',
  cacheDir: `temporal-cli-${TEMPORAL_CLI_VERSION}`,
  cacheFile: 'temporal',
  // `go install` leaves the version string at 0.0.0-DEV; the release builds set it like this.
  ldflags: `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION.replace(/^v/, '')}`,
  verify: (bin) => verifyTemporalCli(bin),
  extraCachePaths: (env) => [temporalCliDownloadCachePath(env)],
  // `.download-`: the SDK download's temp dirs (made only under the CLI's lock, below); `.build-`:
  // the temp dirs of this file's own Go builds before go-binary.ts existed (CLI only, same lock).
  extraTempPrefixes: ['.build-', '.download-'],
};

/** Steps 1-3 only: never builds or downloads. */
export async function findTemporalCli(
  progress: Progress = defaultProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalCliLocation | undefined> {
  return findGoBinary(TEMPORAL_CLI_SPEC, progress, env);
}

/** Find a working `temporal` binary, building (or downloading) it if needed. Returns its path. */
export async function ensureTemporalCli(progress: Progress = defaultProgress, opts: EnsureTemporalCliOptions = {}): Promise<string> {
  return (await locateTemporalCli(progress, opts)).path;
}

/** Like ensureTemporalCli, also telling where the binary came from. */
export async function locateTemporalCli(
  progress: Progress = defaultProgress,
  opts: EnsureTemporalCliOptions = {},
): Promise<TemporalCliLocation> {
  const env = opts.env ?? process.env;
  const allowDownload = opts.allowDownload ?? env.TEMPORAL_CLI_NO_DOWNLOAD !== '1';
  return locateGoBinary(TEMPORAL_CLI_SPEC, progress, {
    env,
    heartbeatMs: opts.heartbeatMs,
    allowBuild: opts.allowBuild,
    lockTimeoutMs: opts.lockTimeoutMs,
    // Runs under the CLI's lock, so the download never races a build or another download.
    withoutGo: (reasons) => downloadWithoutGo(reasons, env, progress, allowDownload),
  });
}

/** Step 5: the SDK download, or the error that says what to install. */
async function downloadWithoutGo(
  reasons: string[],
  env: NodeJS.ProcessEnv,
  progress: Progress,
  allowDownload: boolean,
): Promise<TemporalCliLocation> {
  const all = [...reasons];
  if (allowDownload) {
    try {
      const dest = temporalCliDownloadCachePath(env);
      await sdkDownload(dest, progress);
      return { path: dest, source: 'downloaded', version: await verifyTemporalCli(dest) };
    } catch (e) {
      all.push(`the Temporal SDK download failed: ${(e as Error).message}`);
    }
  } else {
    all.push('the SDK download is disabled');
  }
  throw new Error(
    `No temporal CLI found (TEMPORAL_CLI_PATH unset, no "temporal" on PATH, nothing in ${path.dirname(temporalCliCachePath(env))}); ` +
      `${all.join('; ')}. Fix: install Go (https://go.dev/dl or "apt-get install golang") so it can be built with ` +
      `"go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}", or point TEMPORAL_CLI_PATH at a temporal binary.`,
  );
}

/**
 * The SDK's own download: TestWorkflowEnvironment.createLocal() with the default executable
 * `{ type: 'cached-download' }` makes sdk-core fetch the CLI build it recommends for this SDK
 * version from temporal.download into `downloadDir` (file `temporal-sdk-typescript-<sdk version>`)
 * and start it; we stop it at once and keep the file.
 */
async function sdkDownload(dest: string, progress: Progress): Promise<void> {
  const root = path.dirname(path.dirname(dest));
  const tmp = fs.mkdtempSync(path.join(root, '.download-'));
  try {
    progress(`Go is missing: downloading the Temporal CLI through the Temporal SDK (TestWorkflowEnvironment.createLocal) into ${tmp}`);
    // Loaded lazily: it pulls in the native worker runtime.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { TestWorkflowEnvironment } = require('@temporalio/testing') as typeof import('@temporalio/testing');
    const testEnv = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir: tmp }, ip: '127.0.0.1' },
    });
    await testEnv.teardown();
    const file = fs
      .readdirSync(tmp)
      .map((n) => path.join(tmp, n))
      .find((p) => path.basename(p).startsWith('temporal') && isExecutableFile(p));
    if (!file) throw new Error(`the SDK download left no temporal executable in ${tmp}`);
    await verifyTemporalCli(file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.renameSync(file, dest);
    progress(`downloaded ${dest}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
