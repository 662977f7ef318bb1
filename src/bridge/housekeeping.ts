/**
 * Pending-list care that no entry asks for: held entries kept fresh (so no other bridge takes
 * them over while this one works on them), entries never begun released at stop (so another
 * bridge takes them at once), and consumers long gone deleted from the group.
 */
import type { Logger } from '../logging';
import { errorText } from './dependency-error';
import type { ReadAhead } from './read-ahead';
import type { BridgeScripts } from './redis-scripts';
import type { StreamPosition } from './stream-reader';

/** "Released" entries get this idle time, so any XAUTOCLAIM takes them. */
const RELEASED_IDLE_MS = 365 * 24 * 3600 * 1000;

export interface HousekeepingOptions extends StreamPosition {
  scripts: BridgeScripts;
  readAhead: ReadAhead;
  claimIdleMs: number;
  /** Consumers idle this long with nothing pending are deleted (0: never). */
  pruneIdleMs: number;
  log: Logger;
}

export class Housekeeping {
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: HousekeepingOptions) {}

  /** Starts the refresh and prune timers (unref'd: they never keep the process alive). */
  start(): void {
    const { claimIdleMs, pruneIdleMs } = this.opts;
    const heartbeatMs = Math.max(100, Math.floor(claimIdleMs / 3));
    this.timers.push(setInterval(() => void this.keepHeldFresh(), heartbeatMs));
    if (pruneIdleMs > 0) this.timers.push(setInterval(() => void this.pruneConsumers(), Math.min(pruneIdleMs, 600_000)));
    for (const timer of this.timers) timer.unref();
  }

  stopTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  /** Resets the idle time of held entries so that no other bridge takes them over meanwhile. */
  private async keepHeldFresh(): Promise<void> {
    const { readAhead, scripts, stream, group, consumer, log } = this.opts;
    if (readAhead.heldCount === 0) return;
    try {
      await scripts.setIdle({ stream, group, consumer, idleMs: 0, ids: readAhead.heldIds() });
    } catch (err) {
      log.debug({ err: errorText(err) }, 'could not refresh held entries');
    }
  }

  /** Entries read but never begun (or given up): hand them to whichever bridge claims next. */
  async releaseQueued(): Promise<void> {
    const { readAhead, scripts, stream, group, consumer, log, claimIdleMs } = this.opts;
    const ids = readAhead.releaseAll();
    if (ids.length === 0) return;
    try {
      const count = await scripts.setIdle({ stream, group, consumer, idleMs: RELEASED_IDLE_MS, ids });
      log.info({ count }, 'released entries not settled; another bridge takes them over at once');
    } catch (err) {
      log.warn({ err: errorText(err), count: ids.length }, `could not release read-ahead entries; they are reclaimed after ${claimIdleMs} ms`);
    }
  }

  private async pruneConsumers(): Promise<void> {
    const { scripts, stream, group, consumer, pruneIdleMs, log } = this.opts;
    try {
      const removed = await scripts.pruneConsumers({ stream, group, minIdleMs: pruneIdleMs, keep: consumer });
      if (removed.length) log.info({ removed }, 'deleted idle consumers that had nothing pending');
    } catch (err) {
      log.debug({ err: errorText(err) }, 'pruning idle consumers failed');
    }
  }
}
