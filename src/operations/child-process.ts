/**
 * Long-running helper processes (Temporal dev server, redis-server, postgres) that must never
 * outlive us:
 *
 *  - each one runs in its own process group (`detached: true`) so stop() can signal the whole
 *    group, and a Ctrl-C on the terminal does not hit it before we had a chance to stop it;
 *  - one set of `exit` / SIGINT / SIGTERM / SIGHUP hooks, installed once per OS process on the
 *    *real* `process` object, signals every live group when we go away;
 *  - a tiny watchdog (`sh`, its own group) reads a pipe from us and, when that pipe closes
 *    because we died without running any hook (SIGKILL, OOM), terminates the group too.
 *
 * Under jest, test files run in a vm context whose `process` is a copy that never receives
 * real events, so the hooks and the registry live on the host realm's `process`, reached via
 * `vm.runInThisContext('process')`, and are shared through a `Symbol.for` key across module
 * registries (globalSetup, each test file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import vm from 'node:vm';

export type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

interface LiveEntry {
  name: string;
  /** Synchronous best-effort kill, used from exit / signal hooks. */
  kill(signal: NodeJS.Signals): void;
}

interface SharedState {
  live: Set<LiveEntry>;
  hooksInstalled: boolean;
  /** Ports handed out by ports.ts and not yet old enough to be handed out again. */
  recentPorts: Map<number, number>;
  /** Set by stopsChildrenOnSignals(): SIGINT/SIGTERM/SIGHUP no longer SIGTERM every child at once. */
  ownerStopsOnSignals?: boolean;
}

const STATE_KEY = Symbol.for('trade-exec.operations.child-process');

/** The host realm's process object (differs from `process` inside a jest test file). */
export function hostProcess(): NodeJS.Process {
  try {
    const p = vm.runInThisContext('process') as NodeJS.Process | undefined;
    if (p && typeof p.on === 'function' && typeof p.pid === 'number') return p;
  } catch {
    // not available: fall back to our own
  }
  return process;
}

/**
 * Says that this process's own SIGINT/SIGTERM handler stops its children, in an order that
 * matters (the stack: bridges, then workers, then the Temporal server, then the databases), so
 * the guard must not SIGTERM them all at once on those signals. They are still killed when this
 * process exits, and by their watchdogs if it dies.
 */
export function stopsChildrenOnSignals(): void {
  sharedState().ownerStopsOnSignals = true;
}

/** Process-wide state shared by every module registry in this OS process. */
export function sharedState(): SharedState {
  const host = hostProcess() as unknown as Record<symbol, SharedState | undefined>;
  let state = host[STATE_KEY];
  if (!state) {
    state = { live: new Set(), hooksInstalled: false, recentPorts: new Map() };
    Object.defineProperty(host, STATE_KEY, { value: state, enumerable: false, configurable: true });
  }
  return state;
}

function installHooks(state: SharedState): void {
  if (state.hooksInstalled) return;
  state.hooksInstalled = true;
  const host = hostProcess();
  const killAll = (signal: NodeJS.Signals): void => {
    for (const entry of [...state.live]) {
      try {
        entry.kill(signal);
      } catch {
        // best effort
      }
    }
  };
  host.on('exit', () => killAll('SIGTERM'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      // An owner that stops its processes in order on this signal (stopsChildrenOnSignals) does it.
      if (state.ownerStopsOnSignals) return;
      killAll('SIGTERM');
      // Keep the default behaviour (die by this signal) unless someone else handles it.
      if (host.listenerCount(sig) <= 1) {
        host.removeListener(sig, handler);
        host.kill(host.pid, sig);
      }
    };
    host.on(sig, handler);
  }
}

/**
 * Register a process (a group when `group` is true) to be killed when we exit or are killed.
 * Returns an unregister function. `target` is the pid; for a group it is also the pgid.
 */
export function guardProcess(opts: {
  name: string;
  pid: number;
  group: boolean;
  /** Signal the watchdog sends first when we die without running hooks. */
  watchdogSignal?: NodeJS.Signals;
  /** Seconds the watchdog waits after that before SIGKILL. */
  watchdogGraceSeconds?: number;
}): () => void {
  const state = sharedState();
  installHooks(state);
  const target = opts.group ? -opts.pid : opts.pid;
  const entry: LiveEntry = {
    name: opts.name,
    kill: (signal) => {
      try {
        process.kill(target, signal);
      } catch {
        // already gone
      }
    },
  };
  state.live.add(entry);
  const watchdog = startWatchdog(target, opts.watchdogSignal ?? 'SIGTERM', opts.watchdogGraceSeconds ?? 5);
  return () => {
    state.live.delete(entry);
    watchdog.cancel();
  };
}

/**
 * `sh` in its own group, blocked reading a pipe whose other end only we hold (node opens fds
 * close-on-exec, so no other child inherits it). EOF means we are gone: signal the target,
 * wait, SIGKILL it. cancel() kills the watchdog itself.
 */
function startWatchdog(target: number, signal: NodeJS.Signals, graceSeconds: number): { cancel(): void } {
  const sig = signal.replace(/^SIG/, '');
  const script =
    'while read -r _; do :; done; ' +
    `kill -${sig} ${target} 2>/dev/null && { sleep ${graceSeconds}; kill -KILL ${target} 2>/dev/null; }; exit 0`;
  let wd: ChildProcess | undefined;
  try {
    wd = spawn('sh', ['-c', script], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    wd.on('error', () => undefined);
    wd.stdin?.on('error', () => undefined);
    wd.unref();
    (wd.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    wd = undefined;
  }
  return {
    cancel: () => {
      if (wd?.pid && wd.exitCode === null && wd.signalCode === null) {
        try {
          process.kill(-wd.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      wd?.stdin?.destroy();
    },
  };
}

export interface ManagedProcessOptions {
  /** Short name for messages, e.g. "temporal dev server". */
  name: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Every output line is appended here (created if missing). */
  logFile?: string;
  /** Called for every stdout/stderr line. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Signal used by stop(); default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** After this long stop() escalates to SIGKILL; default 15 s. */
  stopTimeoutMs?: number;
  /** Lines kept in memory for error messages; default 200. */
  keepLines?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  exitInfo(): ExitInfo | undefined;
  /** Last output lines, joined. */
  recentOutput(maxLines?: number): string;
  /** Signal the whole group, wait for the exit, SIGKILL after the timeout. Idempotent. */
  stop(): Promise<ExitInfo>;
}

/** Spawn `command` in its own process group, guarded against outliving us. */
export function spawnManaged(command: string, args: readonly string[], opts: ManagedProcessOptions): Promise<ManagedProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = opts.keepLines ?? 200;
    const lines: string[] = [];
    const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
    log?.on('error', () => undefined);
    let info: ExitInfo | undefined;
    let unguard: (() => void) | undefined;
    let resolveExit!: (i: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((r) => (resolveExit = r));

    const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
      lines.push(line);
      if (lines.length > keep) lines.shift();
      log?.write(line + '\n');
      opts.onLine?.(line, stream);
    };
    if (child.stdout) readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', onLine('stdout'));
    if (child.stderr) readline.createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', onLine('stderr'));

    child.once('error', (err: NodeJS.ErrnoException) => {
      unguard?.();
      log?.end();
      if (child.pid === undefined) {
        reject(Object.assign(new Error(`${opts.name}: cannot start ${command}: ${err.message}`), { code: err.code }));
      }
    });
    child.once('exit', (code, signal) => {
      info = { code, signal };
      unguard?.();
      unguard = undefined;
      // Give readline a tick to flush the last lines before anyone reads them.
      setImmediate(() => {
        log?.end();
        resolveExit(info!);
      });
    });
    child.once('spawn', () => {
      const pid = child.pid!;
      unguard = guardProcess({ name: opts.name, pid, group: true });
      let stopping: Promise<ExitInfo> | undefined;
      resolve({
        name: opts.name,
        pid,
        child,
        exited,
        exitInfo: () => info,
        recentOutput: (max = keep) => lines.slice(-max).join('\n'),
        stop: () => {
          if (info) return Promise.resolve(info);
          stopping ??= (async () => {
            const signalGroup = (s: NodeJS.Signals): void => {
              try {
                process.kill(-pid, s);
              } catch {
                // gone
              }
            };
            signalGroup(opts.stopSignal ?? 'SIGTERM');
            const timer = setTimeout(() => signalGroup('SIGKILL'), opts.stopTimeoutMs ?? 15_000);
            try {
              return await exited;
            } finally {
              clearTimeout(timer);
              // Anything left in the group (grandchildren) goes too.
              signalGroup('SIGKILL');
            }
          })();
          return stopping;
        },
      });
    });
  });
}

/** Find an executable on a PATH string. */
export function findOnPath(name: string, pathValue: string | undefined): string | undefined {
  for (const dir of (pathValue ?? '').split(':')) {
    if (!dir) continue;
    const candidate = `${dir.replace(/\/+$/, '')}/${name}`;
    try {
      const st = fs.statSync(candidate);
      if (st.isFile()) {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
