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
 * Every candidate is checked with `temporal --version`.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { findOnPath, sleep } from './child-process';

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

export type Progress = (line: string) => void;

export const defaultProgress: Progress = (line) => process.stderr.write(`[temporal-cli] ${line}\n`);

export function temporalCliCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'trade-exec');
}

/** Where the Go build puts the binary. */
export function temporalCliCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(temporalCliCacheRoot(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** Where the SDK-download fallback puts the binary. */
export function temporalCliDownloadCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(temporalCliCacheRoot(env), 'temporal-cli-sdk-download', 'temporal');
}

/** Run `<bin> --version`; resolves to its first line or rejects with a readable error. */
export function verifyTemporalCli(bin: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['--version'], { timeout: timeoutMs, env: cliEnv(process.env) }, (err, stdout, stderr) => {
      const first = String(stdout).split('\n')[0]?.trim() ?? '';
      if (err) return reject(new Error(`${bin} --version failed: ${err.message.trim()} ${String(stderr).trim()}`.trim()));
      if (!/^temporal version /.test(first)) return reject(new Error(`${bin} --version printed ${JSON.stringify(first)}, not "temporal version ..."`));
      resolve(first);
    });
  });
}

/** The environment for running the CLI: client settings (TEMPORAL_ADDRESS, ...) removed. */
export function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('TEMPORAL_')) out[k] = v;
  return out;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Steps 1-3 only: never builds or downloads. */
export async function findTemporalCli(
  progress: Progress = defaultProgress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalCliLocation | undefined> {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutableFile(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`);
    return { path: explicit, source: 'env', version: await verifyTemporalCli(explicit) };
  }
  const onPath = findOnPath('temporal', env.PATH);
  if (onPath) {
    try {
      return { path: onPath, source: 'path', version: await verifyTemporalCli(onPath) };
    } catch (e) {
      progress(`ignoring ${onPath} on PATH: ${(e as Error).message}`);
    }
  }
  for (const cached of [temporalCliCachePath(env), temporalCliDownloadCachePath(env)]) {
    if (!isExecutableFile(cached)) continue;
    try {
      return { path: cached, source: 'cache', version: await verifyTemporalCli(cached) };
    } catch (e) {
      progress(`ignoring cached ${cached}: ${(e as Error).message}`);
    }
  }
  return undefined;
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
  const found = await findTemporalCli(progress, env);
  if (found) return found;

  const target = temporalCliCachePath(env);
  const allowBuild = opts.allowBuild ?? true;
  const allowDownload = opts.allowDownload ?? env.TEMPORAL_CLI_NO_DOWNLOAD !== '1';
  const go = allowBuild ? findOnPath('go', env.PATH) : undefined;
  const root = temporalCliCacheRoot(env);
  fs.mkdirSync(root, { recursive: true });

  const release = await acquireLock(path.join(root, `temporal-cli-${TEMPORAL_CLI_VERSION}.lock`), progress, opts);
  try {
    // Someone else may have finished while we waited for the lock.
    const again = await findTemporalCli(progress, env);
    if (again) return again;
    removeStaleTemps(root);
    if (go) {
      await goBuild(go, target, env, progress, opts.heartbeatMs ?? 15_000);
      return { path: target, source: 'built', version: await verifyTemporalCli(target) };
    }
    const reasons = [allowBuild ? 'Go is not on PATH' : 'building is disabled'];
    if (allowDownload) {
      try {
        const dest = temporalCliDownloadCachePath(env);
        await sdkDownload(dest, progress);
        return { path: dest, source: 'downloaded', version: await verifyTemporalCli(dest) };
      } catch (e) {
        reasons.push(`the Temporal SDK download failed: ${(e as Error).message}`);
      }
    } else {
      reasons.push('the SDK download is disabled');
    }
    throw new Error(
      `No temporal CLI found (TEMPORAL_CLI_PATH unset, no "temporal" on PATH, nothing in ${path.dirname(target)}); ` +
        `${reasons.join('; ')}. Fix: install Go (https://go.dev/dl or "apt-get install golang") so it can be built with ` +
        `"go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}", or point TEMPORAL_CLI_PATH at a temporal binary.`,
    );
  } finally {
    release();
  }
}

function removeStaleTemps(root: string): void {
  // We hold the lock, so any temp dir left here belongs to a build that was killed.
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith('.build-') || name.startsWith('.download-')) {
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
  }
}

async function goBuild(go: string, target: string, env: NodeJS.ProcessEnv, progress: Progress, heartbeatMs: number): Promise<void> {
  const root = path.dirname(path.dirname(target));
  const tmp = fs.mkdtempSync(path.join(root, '.build-'));
  const started = Date.now();
  const args = [
    'install',
    // `go install` leaves the version string at 0.0.0-DEV; the release builds set it like this.
    `-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION.replace(/^v/, '')}`,
    `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`,
  ];
  progress(`building the Temporal CLI: GOBIN=${tmp} ${go} ${args.join(' ')} (the first build takes several minutes)`);
  const heartbeat = setInterval(
    () => progress(`still building the Temporal CLI ${TEMPORAL_CLI_VERSION}... ${Math.round((Date.now() - started) / 1000)} s elapsed`),
    heartbeatMs,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, args, { env: { ...env, GOBIN: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
      const tail: string[] = [];
      const onLine = (line: string): void => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        progress(`go: ${line.replace(/^go: /, '')}`);
      };
      if (child.stdout) readline.createInterface({ input: child.stdout }).on('line', onLine);
      if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', onLine);
      child.once('error', reject);
      child.once('close', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`go install failed (code ${code}, signal ${signal}):\n${tail.join('\n')}`)),
      );
    });
    const built = path.join(tmp, 'temporal');
    const version = await verifyTemporalCli(built);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.renameSync(built, target);
    progress(`built ${target} (${version}) in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    clearInterval(heartbeat);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock file (O_EXCL create) holding {pid, host, since}. A lock whose pid is dead
 * (same host) or that is older than 2 h is stale and taken over.
 */
async function acquireLock(lockPath: string, progress: Progress, opts: EnsureTemporalCliOptions): Promise<() => void> {
  const started = Date.now();
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const timeoutMs = opts.lockTimeoutMs ?? 30 * 60_000;
  let lastNote = 0;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }));
      fs.closeSync(fd);
      return () => fs.rmSync(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: { pid?: number; host?: string; since?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as typeof holder;
    } catch {
      // being written right now, or garbage
    }
    const age = (() => {
      try {
        return Date.now() - fs.statSync(lockPath).mtimeMs;
      } catch {
        return 0;
      }
    })();
    const sameHost = holder.host === os.hostname();
    const stale =
      (sameHost && typeof holder.pid === 'number' && !pidAlive(holder.pid)) ||
      (holder.pid === undefined && age > 60_000) ||
      age > 2 * 3600_000;
    if (stale) {
      progress(`removing stale lock ${lockPath} (${JSON.stringify(holder)})`);
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    const waited = Date.now() - started;
    if (waited > timeoutMs) throw new Error(`timed out after ${Math.round(waited / 1000)} s waiting for ${lockPath} (${JSON.stringify(holder)})`);
    if (lastNote === 0 || Date.now() - lastNote >= heartbeatMs) {
      lastNote = Date.now();
      progress(`another process (pid ${holder.pid ?? '?'}) is building the Temporal CLI; waiting (${Math.round(waited / 1000)} s so far)`);
    }
    await sleep(250);
  }
}
