/**
 * Finds (or builds) a binary that `go install <module>@<version>` produces, in this order:
 *
 *  1. `$<envVar>` (must work, else we fail: an explicit setting is never ignored);
 *  2. `<command>` on `$PATH` (one that fails verification, e.g. another version, is skipped with
 *     a progress line);
 *  3. the per-user cache `${XDG_CACHE_HOME:-$HOME/.cache}/trade-exec/<cacheDir>/<cacheFile>`
 *     (then any further cache paths the spec names);
 *  4. `go install <module>@<version>` with GOBIN set to a temp dir next to the cache, the result
 *     verified there and then renamed into place, so a killed build never leaves a half-written
 *     binary where step 3 would find it. The build runs under an O_EXCL lock file so two
 *     processes never build the same binary at once (the second waits, then finds it cached);
 *     a lock whose owner died is taken over.
 *
 * Every candidate is checked with the spec's `verify`. temporal-cli.ts (the `temporal` CLI) and
 * stack/temporal-binaries.ts (the Temporal server, its SQL tool and the UI server) are built on this.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { findOnPath, guardProcess, sleep } from './child-process';

export type Progress = (line: string) => void;

export interface GoBinarySpec {
  /** What the binary is called in progress lines and errors, e.g. "Temporal server". */
  title: string;
  /** The name looked up on PATH, e.g. "temporal-server". */
  command: string;
  /** The environment variable that names the binary explicitly, e.g. "TEMPORAL_SERVER_PATH". */
  envVar: string;
  /** The Go package `go install` builds, e.g. "go.temporal.io/server/cmd/server". */
  module: string;
  /** The module version, e.g. "v1.32.1". */
  version: string;
  /** The file `go install` writes into GOBIN: the last path element of `module`, e.g. "server". */
  installedName: string;
  /** The directory under the cache root, e.g. "temporal-server-v1.32.1" (the version in the name keeps versions apart). */
  cacheDir: string;
  /** The file inside `cacheDir`, e.g. "temporal-server". */
  cacheFile: string;
  /** `-ldflags` for `go install`, for modules that take their version string from the linker. */
  ldflags?: string;
  /** How long the build takes, for the "building" progress line (default "the first build takes several minutes"). */
  buildNote?: string;
  /** Resolves to the binary's version line, or rejects with an error saying what is wrong with it. */
  verify(bin: string): Promise<string>;
  /** Further files a previous run may have left, looked at after the cache (e.g. the CLI's SDK download). */
  extraCachePaths?(env: NodeJS.ProcessEnv): string[];
  /**
   * Names of entries in the cache root that only this spec's own (locked) code ever creates,
   * beyond its own temp dirs; removed as leftovers under the lock before building.
   */
  extraTempPrefixes?: readonly string[];
}

export type GoBinarySource = 'env' | 'path' | 'cache' | 'built';

export interface GoBinaryLocation<Source extends string = GoBinarySource> {
  path: string;
  source: Source;
  /** What `verify` resolved to (the version line). */
  version: string;
}

export interface LocateGoBinaryOptions<Fallback = never> {
  /** Environment to read the spec's envVar, PATH, XDG_CACHE_HOME, HOME from, and to run go in (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Heartbeat interval while building or waiting for another build (default 15 s). */
  heartbeatMs?: number;
  /** Build with Go when nothing is found (default true). */
  allowBuild?: boolean;
  /** Give up waiting for another process's build after this long (default 30 min). */
  lockTimeoutMs?: number;
  /**
   * Called under the lock when nothing was found and Go cannot be used (`reasons` says why); it
   * may provide the binary some other way or throw its own error. Without it we throw a
   * GoBinaryUnavailableError.
   */
  withoutGo?: (reasons: string[]) => Promise<Fallback>;
}

const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_LOCK_TIMEOUT_MS = 30 * 60_000;
/** How many lines of go's output a failed build reports. */
const GO_OUTPUT_TAIL_LINES = 30;

/** `${XDG_CACHE_HOME:-$HOME/.cache}/trade-exec`: the root of every cached binary. */
export function goBinaryCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'trade-exec');
}

/** Where a build of `spec` ends up (and where step 3 looks first). */
export function goBinaryCachePath(spec: GoBinarySpec, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(goBinaryCacheRoot(env), spec.cacheDir, spec.cacheFile);
}

/** Nothing found, and Go could not be used to build it. */
export class GoBinaryUnavailableError extends Error {
  constructor(
    readonly spec: GoBinarySpec,
    readonly reasons: readonly string[],
    target: string,
  ) {
    super(
      `No ${spec.title} found (${spec.envVar} unset, no "${spec.command}" on PATH, nothing in ${path.dirname(target)}); ` +
        `${reasons.join('; ')}. Fix: install Go (https://go.dev/dl or "apt-get install golang") so it can be built with ` +
        `"go install ${spec.module}@${spec.version}", or point ${spec.envVar} at a ${spec.command} binary.`,
    );
    this.name = 'GoBinaryUnavailableError';
  }
}

export function isExecutableFile(p: string): boolean {
  try {
    if (!fs.statSync(p).isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Run `<bin> --version`; resolves to the first line of its output or rejects with a readable error. */
export function readVersionLine(bin: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['--version'], { timeout: timeoutMs, env }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${bin} --version failed: ${err.message.trim()} ${String(stderr).trim()}`.trim()));
      resolve(String(stdout).split('\n')[0]?.trim() ?? '');
    });
  });
}

export interface VersionLineExpectation {
  /** Matches the whole version line; its first group is the version. */
  pattern: RegExp;
  /** The version we need, as printed (no leading "v"), e.g. "1.32.1". */
  version: string;
  /** The line we expect, for the error message, e.g. "temporal-sql-tool version 1.32.1". */
  expectedLine: string;
}

/**
 * Checks a version line against what we need. A binary of another version is refused: the
 * server and its schemas (SQL tool) must match, and the stack was tested with these versions.
 */
export function checkVersionLine(bin: string, line: string, expected: VersionLineExpectation): string {
  const match = expected.pattern.exec(line);
  if (!match) throw new Error(`${bin} --version printed ${JSON.stringify(line)}, not "${expected.expectedLine}"`);
  if (match[1] !== expected.version) {
    throw new Error(`${bin} is version ${match[1]}, but ${expected.version} is needed (it printed ${JSON.stringify(line)})`);
  }
  return line;
}

/** Steps 1-3 only: never builds. */
export async function findGoBinary(
  spec: GoBinarySpec,
  progress: Progress,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GoBinaryLocation | undefined> {
  const explicit = env[spec.envVar];
  if (explicit) {
    if (!isExecutableFile(explicit)) throw new Error(`${spec.envVar}=${explicit} is not an executable file`);
    return { path: explicit, source: 'env', version: await spec.verify(explicit) };
  }
  const onPath = findOnPath(spec.command, env.PATH);
  if (onPath) {
    try {
      return { path: onPath, source: 'path', version: await spec.verify(onPath) };
    } catch (e) {
      progress(`ignoring ${onPath} on PATH: ${(e as Error).message}`);
    }
  }
  for (const cached of [goBinaryCachePath(spec, env), ...(spec.extraCachePaths?.(env) ?? [])]) {
    if (!isExecutableFile(cached)) continue;
    try {
      return { path: cached, source: 'cache', version: await spec.verify(cached) };
    } catch (e) {
      progress(`ignoring cached ${cached}: ${(e as Error).message}`);
    }
  }
  return undefined;
}

/** Find a working binary for `spec`, building it with Go if needed. */
export async function locateGoBinary<Fallback = never>(
  spec: GoBinarySpec,
  progress: Progress,
  opts: LocateGoBinaryOptions<Fallback> = {},
): Promise<GoBinaryLocation | Fallback> {
  const env = opts.env ?? process.env;
  const found = await findGoBinary(spec, progress, env);
  if (found) return found;

  const allowBuild = opts.allowBuild ?? true;
  const go = allowBuild ? findOnPath('go', env.PATH) : undefined;
  const root = goBinaryCacheRoot(env);
  fs.mkdirSync(root, { recursive: true });

  const release = await acquireLock(spec, path.join(root, `${spec.cacheDir}.lock`), progress, opts);
  try {
    // Someone else may have finished while we waited for the lock.
    const again = await findGoBinary(spec, progress, env);
    if (again) return again;
    removeLeftoverTemps(spec, root);
    const target = goBinaryCachePath(spec, env);
    if (go) {
      const version = await buildIntoCache(spec, { go, target, root, env, progress, heartbeatMs: opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS });
      return { path: target, source: 'built', version };
    }
    const reasons = [allowBuild ? 'Go is not on PATH' : 'building is disabled'];
    if (opts.withoutGo) return await opts.withoutGo(reasons);
    throw new GoBinaryUnavailableError(spec, reasons, target);
  } finally {
    release();
  }
}

/** The prefix of the temp dirs a build of `spec` makes in the cache root (one per spec, see removeLeftoverTemps). */
function tempPrefix(spec: GoBinarySpec): string {
  return `.partial-${spec.cacheDir}-`;
}

/**
 * We hold this spec's lock, so a temp dir of this spec left in the root belongs to a build that
 * was killed. Other specs' temp dirs are left alone: their builds may be running right now under
 * their own locks.
 */
function removeLeftoverTemps(spec: GoBinarySpec, root: string): void {
  const prefixes = [tempPrefix(spec), ...(spec.extraTempPrefixes ?? [])];
  for (const name of fs.readdirSync(root)) {
    if (prefixes.some((p) => name.startsWith(p))) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

interface BuildContext {
  go: string;
  target: string;
  root: string;
  env: NodeJS.ProcessEnv;
  progress: Progress;
  heartbeatMs: number;
}

const elapsedSeconds = (since: number): number => Math.round((Date.now() - since) / 1000);

/** `go install` into a temp dir, verify the result, rename it to `target`. Resolves to its version line. */
async function buildIntoCache(spec: GoBinarySpec, ctx: BuildContext): Promise<string> {
  const tmp = fs.mkdtempSync(path.join(ctx.root, tempPrefix(spec)));
  const started = Date.now();
  const args = goInstallArgs(spec);
  ctx.progress(`building the ${spec.title}: GOBIN=${tmp} ${ctx.go} ${args.join(' ')} (${spec.buildNote ?? 'the first build takes several minutes'})`);
  const heartbeat = setInterval(
    () => ctx.progress(`still building the ${spec.title} ${spec.version}... ${elapsedSeconds(started)} s elapsed`),
    ctx.heartbeatMs,
  );
  try {
    await runGoInstall(ctx.go, args, { ...ctx.env, GOBIN: tmp }, ctx.progress);
    const built = path.join(tmp, spec.installedName);
    if (!isExecutableFile(built)) throw new Error(`go install succeeded but left no ${spec.installedName} in ${tmp}`);
    // Verified before the rename, so a binary that does not work never reaches the cache.
    const version = await spec.verify(built);
    fs.mkdirSync(path.dirname(ctx.target), { recursive: true });
    fs.renameSync(built, ctx.target);
    ctx.progress(`built ${ctx.target} (${version}) in ${elapsedSeconds(started)} s`);
    return version;
  } finally {
    clearInterval(heartbeat);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function goInstallArgs(spec: GoBinarySpec): string[] {
  return ['install', ...(spec.ldflags ? [`-ldflags=${spec.ldflags}`] : []), `${spec.module}@${spec.version}`];
}

/** Runs go, streaming its output as progress lines; a failure carries the tail of that output (the reason is usually at the end). */
function runGoInstall(go: string, args: string[], env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // In a process group of its own and guarded: a build must not outlive us (a stopped start,
    // a killed test run) and keep running while the next start builds again.
    const child = spawn(go, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const unguard = child.pid !== undefined ? guardProcess({ name: 'go install', pid: child.pid, group: true }) : () => undefined;
    child.once('exit', () => unguard());
    const tail: string[] = [];
    const onLine = (line: string): void => {
      tail.push(line);
      if (tail.length > GO_OUTPUT_TAIL_LINES) tail.shift();
      progress(`go: ${line.replace(/^go: /, '')}`);
    };
    if (child.stdout) readline.createInterface({ input: child.stdout }).on('line', onLine);
    if (child.stderr) readline.createInterface({ input: child.stderr }).on('line', onLine);
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`go install failed (code ${code}, signal ${signal}):\n${tail.join('\n')}`)),
    );
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockHolder {
  pid?: number;
  host?: string;
  since?: string;
}

/** Creates the lock file if nobody holds it (O_EXCL: exactly one creator wins). */
function tryCreateLock(lockPath: string): boolean {
  try {
    const fd = fs.openSync(lockPath, 'wx');
    fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }));
    fs.closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  }
}

interface LockSnapshot {
  holder: LockHolder;
  ageMs: number;
  /** Identify this very lock file (an inode number alone may be reused at once), so we never remove a newer one that replaced it. */
  ino: number;
  mtimeMs: number;
}

/** Reads the lock through one descriptor, so contents, age and identity belong to the same file. */
function readLock(lockPath: string): LockSnapshot | undefined {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, 'r');
  } catch {
    return undefined; // released meanwhile
  }
  try {
    const st = fs.fstatSync(fd);
    let holder: LockHolder = {};
    try {
      holder = JSON.parse(fs.readFileSync(fd, 'utf8')) as LockHolder;
    } catch {
      // being written right now, or garbage
    }
    return { holder, ageMs: Date.now() - st.mtimeMs, ino: st.ino, mtimeMs: st.mtimeMs };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Removes the stale lock we looked at, unless another waiter already took it over and created
 * a fresh one in its place (removing that would let two of us build at once).
 */
function removeIfSameLock(lockPath: string, seen: LockSnapshot): void {
  try {
    const now = fs.statSync(lockPath);
    if (now.ino === seen.ino && now.mtimeMs === seen.mtimeMs) fs.rmSync(lockPath, { force: true });
  } catch {
    // already gone
  }
}

/**
 * A lock is stale when its pid is dead (only decidable on the same host), when it never got its
 * contents written (the writer died between create and write), or when it is older than any
 * build could take.
 */
function isStaleLock(holder: LockHolder, ageMs: number): boolean {
  const sameHost = holder.host === os.hostname();
  return (
    (sameHost && typeof holder.pid === 'number' && !pidAlive(holder.pid)) ||
    (holder.pid === undefined && ageMs > 60_000) ||
    ageMs > 2 * 3600_000
  );
}

/** An exclusive lock file holding {pid, host, since}; stale locks are taken over. Resolves to its release function. */
async function acquireLock(
  spec: GoBinarySpec,
  lockPath: string,
  progress: Progress,
  opts: Pick<LocateGoBinaryOptions<unknown>, 'heartbeatMs' | 'lockTimeoutMs'>,
): Promise<() => void> {
  const started = Date.now();
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const timeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  let lastNote = 0;
  for (;;) {
    if (tryCreateLock(lockPath)) return () => fs.rmSync(lockPath, { force: true });
    const seen = readLock(lockPath);
    if (!seen) continue;
    const { holder } = seen;
    if (isStaleLock(holder, seen.ageMs)) {
      progress(`removing stale lock ${lockPath} (${JSON.stringify(holder)})`);
      removeIfSameLock(lockPath, seen);
      continue;
    }
    const waited = Date.now() - started;
    if (waited > timeoutMs) throw new Error(`timed out after ${Math.round(waited / 1000)} s waiting for ${lockPath} (${JSON.stringify(holder)})`);
    if (lastNote === 0 || Date.now() - lastNote >= heartbeatMs) {
      lastNote = Date.now();
      progress(`another process (pid ${holder.pid ?? '?'}) is building the ${spec.title}; waiting (${Math.round(waited / 1000)} s so far)`);
    }
    await sleep(250);
  }
}
