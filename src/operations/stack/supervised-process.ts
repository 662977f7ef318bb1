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
  private readyWaiters: Array<() => void> = [];

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

  /** Starts (and keeps starting) it; resolves once a life is up. */
  async start(): Promise<void> {
    if (!this.wanted) {
      this.wanted = true;
      this.loop = this.supervise();
    }
    await this.waitReady();
  }

  /** Resolves once a life is up (now or later). */
  waitReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * Signals the current life's process group. With `restart: false` the supervisor leaves it
   * down until start(); otherwise it brings a new life up as after a crash.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', o: { restart?: boolean } = {}): Promise<ExitInfo | undefined> {
    const life = this.current;
    if (o.restart === false) this.wanted = false;
    if (!life || life.exitInfo()) return life?.exitInfo();
    this.events.push({ at: Date.now(), what: 'killed', pid: life.pid });
    try {
      process.kill(-life.pid, signal);
    } catch {
      // already gone
    }
    const exit = await life.exited;
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
    this.wanted = false;
    this.wake?.();
    await this.current?.stop();
    await this.loop;
  }

  recentOutput(lines = 40): string {
    return this.current?.recentOutput(lines) ?? '';
  }

  private async supervise(): Promise<void> {
    const say = this.options.progress ?? (() => undefined);
    let backoffMs = 1000;
    while (this.wanted) {
      const { life, sawReadyLine } = await this.spawnLife();
      const up = await this.untilReady(life, sawReadyLine);
      if (up) {
        backoffMs = 1000;
        this.readyPid = life.pid;
        this.events.push({ at: Date.now(), what: 'ready', pid: life.pid });
        for (const w of this.readyWaiters.splice(0)) w();
      }
      const exit = await life.exited;
      this.events.push({ at: Date.now(), what: 'exited', pid: life.pid, exit });
      if (!this.wanted) break;
      say(`${this.name} (pid ${life.pid}) exited (${exit.signal ?? `code ${exit.code}`}); starting it again in ${backoffMs / 1000} s`);
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
    while (!life.exitInfo() && this.wanted) {
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
