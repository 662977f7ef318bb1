/**
 * The service's processes as production runs them: `src/operations/main.ts` with
 * TRADE_EXEC_ROLES=worker or bridge, each its own OS process (and process group), configured
 * only through the environment variables of README's Configuration table. SIGKILL takes the
 * whole group; a process that dies on its own (e.g. it could not reach Temporal while it was
 * down) is started again a second later, as a supervisor (systemd, Kubernetes) would.
 *
 * `node --require tsx/cjs` rather than `npx tsx`: npx and tsx's CLI put a wrapper process in
 * between, and a SIGKILL to a wrapper does not reach the service.
 */
import path from 'node:path';
import { spawnManaged, sleep, type ExitInfo, type ManagedProcess } from '../../src/operations/child-process';
import type { ChaosRole } from './schedule';

export const ROOT = path.resolve(__dirname, '../..');
const READY_LINE = 'trade-exec is ready';

export interface RoleEvent {
  at: number;
  role: ChaosRole;
  what: 'spawned' | 'ready' | 'killed' | 'exited unexpectedly';
  pid: number;
  detail?: string;
}

export class RoleProcess {
  private wanted = false;
  private loop: Promise<void> | undefined;
  private current: ManagedProcess | undefined;
  private readyPid: number | undefined;
  private lives = 0;
  readonly events: RoleEvent[] = [];

  constructor(
    readonly role: ChaosRole,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
    private readonly say: (line: string) => void,
    private readonly t0: number,
  ) {}

  /** Starts it (and keeps it started) unless it already is. Does not wait for readiness. */
  up(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.loop = this.supervise();
  }

  /** True while a life of it has printed "trade-exec is ready" and not exited. */
  get ready(): boolean {
    return this.current !== undefined && this.readyPid === this.current.pid && !this.current.exitInfo();
  }

  get lifeCount(): number {
    return this.lives;
  }

  unexpectedExits(): RoleEvent[] {
    return this.events.filter((e) => e.what === 'exited unexpectedly');
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ready) {
      if (Date.now() > deadline) throw new Error(`${this.role} not ready within ${timeoutMs} ms; last output:\n${this.current?.recentOutput(30) ?? '(no process)'}`);
      await sleep(100);
    }
  }

  /** SIGKILL to its process group; no restart until up() again. */
  async kill(): Promise<number | undefined> {
    this.wanted = false;
    const p = this.current;
    if (p && !p.exitInfo()) {
      killGroup(p.pid);
      this.note('killed', p.pid);
    }
    await this.loop;
    return p?.pid;
  }

  private note(what: RoleEvent['what'], pid: number, detail?: string): void {
    this.events.push({ at: Date.now() - this.t0, role: this.role, what, pid, detail });
    this.say(`${this.role} pid ${pid} ${what}${detail ? `: ${detail}` : ''}`);
  }

  private async supervise(): Promise<void> {
    while (this.wanted) {
      this.lives += 1;
      let life: ManagedProcess | undefined;
      let sawReady = false;
      const markReady = (l: ManagedProcess) => {
        this.readyPid = l.pid;
        this.note('ready', l.pid);
      };
      const p = await spawnManaged(process.execPath, ['--require', 'tsx/cjs', 'src/operations/main.ts'], {
        name: `trade-exec ${this.role}`,
        cwd: ROOT,
        env: this.env,
        logFile: this.logFile,
        keepLines: 100,
        onLine: (line) => {
          if (!line.includes(READY_LINE)) return;
          sawReady = true;
          if (life) markReady(life);
        },
      });
      life = p;
      this.current = p;
      this.note('spawned', p.pid);
      if (sawReady) markReady(p);
      if (!this.wanted) {
        // kill() came while it was being spawned.
        killGroup(p.pid);
        this.note('killed', p.pid);
      }
      const exit: ExitInfo = await p.exited;
      if (!this.wanted) break;
      this.note('exited unexpectedly', p.pid, `code ${exit.code} signal ${exit.signal}; ${lastMeaningfulLine(p.recentOutput(20))}`);
      await sleep(1_000);
    }
    this.current = undefined;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function lastMeaningfulLine(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim());
  return (lines.at(-1) ?? '').slice(0, 300);
}
