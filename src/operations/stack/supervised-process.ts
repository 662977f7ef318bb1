/**
 * One process of the stack, kept running as a supervisor (systemd, Kubernetes, compose's
 * `restart: unless-stopped`) would: a life that exits on its own is started again after a
 * back-off (1 s doubling to 15 s), and a life counts as up only once its readiness check passed.
 *
 * Tests use `kill()` to take a life away on purpose: `{ restart: false }` keeps it down until
 * `start()` (a SIGKILLed Temporal server brought back later), the default lets the supervisor
 * bring it back (a worker crash). Every life's output goes to the same log file.
 */
import { sleep, spawnManaged, type ExitInfo, type ManagedProcess } from '../child-process';

/** A life up at least this long resets the restart back-off to 1 s. */
const STABLE_LIFE_MS = 10_000;

export interface SupervisedProcessOptions {
  /** Short name for messages and logs ("worker-1", "temporal server"). */
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** A line that shows the life is up (checked on stdout and stderr). */
  readyLine?: string;
  /** Or: resolves once the life is up (polled every 250 ms until it does). */
  readyCheck?: () => Promise<boolean>;
  /** A life not up after this long is killed and counted as a failed start (default 120 s). */
  readyTimeoutMs?: number;
  /** After this many lives in a row that ended before they were up, start() gives up (default 5). */
  maxFailedStarts?: number;
  /** stop(): SIGTERM, then SIGKILL after this long (default 30 s: activities finish first). */
  stopTimeoutMs?: number;
  progress?: (line: string) => void;
}

export interface LifeEvent {
  at: number;
  what: 'spawned' | 'ready' | 'exited' | 'killed';
  pid: number;
  exit?: ExitInfo;
}

export class SupervisedProcess {
  readonly events: LifeEvent[] = [];
  private current: ManagedProcess | undefined;
  private readyPid: number | undefined;
  private wanted = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(readonly options: SupervisedProcessOptions) {}

  get name(): string {
    return this.options.name;
  }

  /** The pid of the current life (undefined while none runs). */
  get pid(): number | undefined {
    return this.current && !this.current.exitInfo() ? this.current.pid : undefined;
  }

  get ready(): boolean {
    return this.readyPid !== undefined && this.readyPid === this.pid;
  }

  /** How many lives have been spawned. */
  get lives(): number {
    return this.events.filter((e) => e.what === 'spawned').length;
  }

  /**
   * Starts (and keeps starting) it; resolves once a life is up. Rejects, and supervises no
   * more, when `maxFailedStarts` lives in a row ended before they were up (a port taken, a bad
   * configuration): starting it again would not help, and the caller must hear why.
   */
  async start(): Promise<void> {
    if (!this.wanted) {
      // A previous loop (after kill/stop/holdRestarts) must be over before a new one begins,
      // or two lives would run at once.
      await this.loop;
      this.wanted = true;
      this.failure = undefined;
      this.loop = this.supervise();
    }
    await this.waitReady();
  }

  /** Resolves once a life is up (now or later); rejects if supervision gave up first. */
  waitReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /**
   * Signals the current life's process group. With `restart: false` the supervisor leaves it
   * down until start(); otherwise it brings a new life up as after a crash.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', o: { restart?: boolean } = {}): Promise<ExitInfo | undefined> {
    const life = this.current;
    if (o.restart === false) this.holdRestarts();
    let exit = life?.exitInfo();
    if (life && !exit) {
      this.events.push({ at: Date.now(), what: 'killed', pid: life.pid });
      try {
        process.kill(-life.pid, signal);
      } catch {
        // already gone
      }
      exit = await life.exited;
    }
    if (o.restart === false) await this.loop;
    return exit;
  }

  /** No new life from now on (the current one runs on): the first step of a shutdown. */
  holdRestarts(): void {
    this.wanted = false;
    this.wake?.();
  }

  /** SIGTERM (then SIGKILL after stopTimeoutMs) and no new life. */
  async stop(): Promise<void> {
    this.holdRestarts();
    await this.current?.stop();
    await this.loop;
  }

  recentOutput(lines = 40): string {
    return this.current?.recentOutput(lines) ?? '';
  }

  private settleWaiters(outcome: { ok: true } | { ok: false; error: Error }): void {
    for (const w of this.readyWaiters.splice(0)) (outcome.ok ? w.resolve() : w.reject(outcome.error));
  }

  private async supervise(): Promise<void> {
    const say = this.options.progress ?? (() => undefined);
    const maxFailedStarts = this.options.maxFailedStarts ?? 5;
    let backoffMs = 1000;
    let failedStarts = 0;
    while (this.wanted) {
      let spawned: { life: ManagedProcess; sawReadyLine: () => boolean } | undefined;
      try {
        spawned = await this.spawnLife();
      } catch (err) {
        say(`${this.name}: cannot start ${this.options.command}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (spawned && !this.wanted) {
        // stop() or holdRestarts() came while it was being spawned: this life must not outlive them.
        await spawned.life.stop();
      }
      if (spawned && this.wanted) {
        const { life, sawReadyLine } = spawned;
        const up = await this.untilReady(life, sawReadyLine);
        const upAt = Date.now();
        if (up) {
          failedStarts = 0;
          this.readyPid = life.pid;
          this.events.push({ at: Date.now(), what: 'ready', pid: life.pid });
          this.settleWaiters({ ok: true });
        }
        const exit = await life.exited;
        this.events.push({ at: Date.now(), what: 'exited', pid: life.pid, exit });
        // The back-off starts over only after a life that stayed up a while: one that comes up and
        // dies at once, again and again, is restarted ever more slowly (up to 15 s), not every second.
        if (up && Date.now() - upAt >= STABLE_LIFE_MS) backoffMs = 1000;
        if (!this.wanted) break;
        if (!up) failedStarts += 1;
        say(`${this.name} (pid ${life.pid}) exited (${exit.signal ?? `code ${exit.code}`})${up ? '' : ' before it was up'}`);
      } else if (this.wanted) {
        failedStarts += 1;
      }
      if (!this.wanted) break;
      if (failedStarts >= maxFailedStarts) {
        this.wanted = false;
        this.failure = new Error(`${this.name} did not come up in ${failedStarts} tries; its last output:\n${this.recentOutput(25)}`);
        this.settleWaiters({ ok: false, error: this.failure });
        break;
      }
      say(`${this.name}: starting it again in ${backoffMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      backoffMs = Math.min(backoffMs * 2, 15_000);
    }
  }

  private async spawnLife(): Promise<{ life: ManagedProcess; sawReadyLine: () => boolean }> {
    const o = this.options;
    let sawReadyLine = false;
    const life = await spawnManaged(o.command, o.args, {
      name: o.name,
      env: o.env,
      cwd: o.cwd,
      logFile: o.logFile,
      stopTimeoutMs: o.stopTimeoutMs ?? 30_000,
      onLine: (line) => {
        if (o.readyLine && line.includes(o.readyLine)) sawReadyLine = true;
      },
    });
    this.current = life;
    this.events.push({ at: Date.now(), what: 'spawned', pid: life.pid });
    return { life, sawReadyLine: () => sawReadyLine };
  }

  /** True once the life is up; false if it exited or timed out first (then it is killed). */
  private async untilReady(life: ManagedProcess, sawReadyLine: () => boolean): Promise<boolean> {
    const o = this.options;
    const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
    while (this.wanted) {
      if (life.exitInfo()) {
        // A life that printed its ready line and then ended at once (sooner than this poll looks)
        // was up all the same: it counts as a life that ran, not as a failed start. `exited`
        // resolves once its last lines are read.
        await life.exited;
        return Boolean(o.readyLine && !o.readyCheck && sawReadyLine());
      }
      const lineOk = o.readyLine ? sawReadyLine() : true;
      const checkOk = lineOk && (o.readyCheck ? await o.readyCheck().catch(() => false) : true);
      if (lineOk && checkOk) return true;
      if (Date.now() > deadline) {
        (o.progress ?? (() => undefined))(`${this.name} (pid ${life.pid}) not up after ${(o.readyTimeoutMs ?? 120_000) / 1000} s; killing it:\n${life.recentOutput(20)}`);
        await life.stop();
        return false;
      }
      await sleep(250);
    }
    return false;
  }
}
