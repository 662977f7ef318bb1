/**
 * What one bridge instance holds: the entries read but not yet begun (in stream order) and the
 * ids of every entry it holds, queued or in flight. The reader fills it, the workers drain it,
 * housekeeping keeps the held entries fresh and releases what is left at stop.
 */
import type { RefusalRule } from './intake-safety';
import type { DependencyError } from './dependency-error';
import type { RiskDecision } from '../shared/decision';

/** One stream entry as read, with what settling it has achieved so far (kept across retries). */
export interface Entry {
  id: string;
  fields: Buffer[];
  /** Set once its workflow exists: from then on the entry must never be dead-lettered. */
  startOutcome?: 'started' | 'duplicate';
  /** Set once it is in the dead-letter stream and acknowledged: a retry only records it in Postgres. */
  deadLettered?: { reason: string; info: DeadLetterInfo };
  lastError?: DependencyError;
}

export interface DeadLetterInfo {
  decisionId?: string;
  raw?: string;
  /** A safety rule refused a valid decision: recorded with its rule (recordRefused), not as malformed. */
  refused?: { rule: RefusalRule; decision: RiskDecision; takeOver: boolean };
}

export type EntryOutcome = 'started' | 'duplicate' | 'rejected' | 'dead' | 'not-ours' | 'abandoned';

export class ReadAhead {
  private readonly queue: Entry[] = [];
  /** Entries this instance holds (queued or in flight), by id. */
  private readonly held = new Set<string>();
  /** In-flight entries given up at the shutdown deadline. */
  private readonly abandoned: string[] = [];
  readonly entryAvailable = new Signal();
  readonly spaceAvailable = new Signal();

  get queued(): number {
    return this.queue.length;
  }

  get heldCount(): number {
    return this.held.size;
  }

  heldIds(): string[] {
    return [...this.held];
  }

  isHeld(id: string): boolean {
    return this.held.has(id);
  }

  /** Adds the entries not held already; returns how many were added. */
  enqueue(entries: Entry[], where: 'front' | 'back'): number {
    const fresh = entries.filter((entry) => !this.held.has(entry.id));
    for (const entry of fresh) this.held.add(entry.id);
    // Reclaimed entries are older than anything queued: they go first.
    if (where === 'front') this.queue.unshift(...fresh);
    else this.queue.push(...fresh);
    this.entryAvailable.notifyAll();
    return fresh.length;
  }

  take(): Entry | undefined {
    return this.queue.shift();
  }

  /** The entry is settled (or left pending after a bug): it is no longer ours to keep fresh. */
  done(id: string): void {
    this.held.delete(id);
  }

  abandon(id: string): void {
    this.abandoned.push(id);
  }

  /** Empties the queue and the abandoned list, and returns their ids (no longer held). */
  releaseAll(): string[] {
    const ids = [...this.abandoned.splice(0), ...this.queue.splice(0).map((entry) => entry.id)];
    for (const id of ids) this.held.delete(id);
    return ids;
  }
}

/** Wake-ups between the reader and the workers. */
class Signal {
  private waiters: Array<() => void> = [];

  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        resolve();
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  notifyAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
