/**
 * A shared backoff gate for the bridge's workers.
 *
 * When a dependency (Temporal, Postgres, Redis) fails, every worker would otherwise retry on its
 * own schedule, hammering a server that is down and letting later stream entries overtake
 * earlier ones. Instead the first failure closes the gate for a backoff period; workers wait at
 * the gate before every attempt, so no new entry is started while it is closed and the entries
 * already in hand are retried together when it opens. Consecutive failures double the backoff
 * (with jitter) up to a ceiling; one success resets it.
 *
 * Pure apart from timers; the clock and randomness are injectable for tests.
 */

export interface RetryGateOptions {
  initialMs?: number;
  maxMs?: number;
  /** ± fraction of the backoff added at random (default 0.2). */
  jitter?: number;
  now?: () => number;
  random?: () => number;
}

export interface GateClosing {
  /** Consecutive failed rounds, including this one. */
  failures: number;
  retryInMs: number;
  /** Whether this failure closed an open gate (false: it arrived while already closed). */
  closedNow: boolean;
}

export class RetryGate {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private openAt = 0;
  private failures = 0;
  private failingSince: number | undefined;
  private readonly wakeups = new Set<() => void>();

  constructor(o: RetryGateOptions = {}) {
    this.initialMs = o.initialMs ?? 250;
    this.maxMs = o.maxMs ?? 15_000;
    this.jitter = o.jitter ?? 0.2;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  get isOpen(): boolean {
    return this.now() >= this.openAt;
  }

  /** Consecutive failed rounds since the last success. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records a failure. Failures that arrive while the gate is closed belong to the same round. */
  fail(): GateClosing {
    const t = this.now();
    if (t < this.openAt) return { failures: this.failures, retryInMs: this.openAt - t, closedNow: false };
    this.failures++;
    this.failingSince ??= t;
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures - 1, 30));
    const retryInMs = Math.max(1, Math.round(base * (1 - this.jitter + 2 * this.jitter * this.random())));
    this.openAt = t + retryInMs;
    return { failures: this.failures, retryInMs, closedNow: true };
  }

  /** Records a success; returns how long the dependency had been failing, if it was. */
  succeed(): number | undefined {
    if (this.failingSince === undefined) return undefined;
    const outage = this.now() - this.failingSince;
    this.failures = 0;
    this.failingSince = undefined;
    this.openAt = 0;
    return outage;
  }

  /** Resolves when the gate is open, or at once after `interrupt()`. */
  async wait(): Promise<void> {
    while (!this.interrupted && !this.isOpen) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.wakeups.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, this.openAt - this.now()));
        this.wakeups.add(done);
      });
    }
  }

  private interrupted = false;

  get isInterrupted(): boolean {
    return this.interrupted;
  }

  /** Wakes every waiter now (shutdown); later waits return at once. */
  interrupt(): void {
    this.interrupted = true;
    for (const w of [...this.wakeups]) w();
  }
}
