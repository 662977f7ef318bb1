/**
 * What this worker's user data stream can vouch for: whether a workflow may skip its REST poll
 * because every change of its orders since it last knew them has reached it, or will.
 *
 * Invariants (each is what makes "covered" safe to act on):
 * 1. A watched order's events are signalled to its workflow as they arrive. So a watched order is
 *    covered while the stream is subscribed, no gap recovery is running, and no signal for it
 *    failed; a gap is repaired for watched orders by the router's recovery, not here.
 * 2. An unwatched order's latest event is kept in `recent` for `retainMs`. So an order the
 *    workflow knew at time K is covered if the stream has been intact (subscribed, no gap) and
 *    `recent` complete since K - marginMs; whatever `recent` holds for it is handed back.
 * 3. Watching starts in the same synchronous step as reading `recent`, so no event can fall
 *    between the two (one JS thread: an event is either already in `recent` or is signalled).
 * 4. An order let go of while something about it may not have reached its workflow (a signal
 *    that failed, a read that failed) is marked: its next check answers "poll it", whatever else holds.
 * 5. Anything not covered is answered "poll it": the workflow reads the order by REST, as it did
 *    before push existed. Coverage only ever removes polls; it never guesses an order's state.
 *
 * Pure logic with an injected clock: src/worker/order-update-router.ts does the I/O.
 */
import type { OrderSnapshot } from '../shared/trade';

export interface CoverageQuery {
  workflowId: string;
  /** `knownSince`: when the workflow last learned the order's venue view (its clock); the view itself, if it has one. */
  orders: Array<{ symbol: string; clientOrderId: string; knownSince: number; status?: string; executedQty?: string }>;
}

export interface CoverageAnswer {
  /** Orders whose every change reached (or will reach) the workflow by push. */
  covered: string[];
  /** Orders the workflow must read by REST. */
  uncovered: string[];
  /** The stream's latest view of covered orders that arrived before they were watched. */
  snapshots: OrderSnapshot[];
}

/** What the router knows of an order it watches: enough to tell whether the venue's view changed. */
export interface Watched {
  workflowId: string;
  symbol: string;
  status?: string;
  executedQty?: string;
  orderId?: number;
  /** A signal for it could not be delivered: it is not covered until its workflow polls once. */
  undelivered?: boolean;
  /**
   * Watched from the moment it was sent (the sending activity ran here), before its workflow's
   * coverage check claimed it: the claim may go to another worker, and then that one signals.
   */
  provisionalSince?: number;
  /** Its send is still out: events are held here, not signalled (the response will say as much). */
  holding?: boolean;
  held?: OrderSnapshot;
  /** Bumped whenever a check (re)claims it: a scan that read the database before must not let go of it. */
  generation: number;
}

export interface PushCoverageOptions {
  /** How long an unwatched order's latest event is kept. */
  retainMs: number;
  /** Most unwatched orders kept; past it the oldest go and coverage starts after them. */
  maxRecent: number;
  /** Allowance for the workflow's clock (the server's) against this worker's. */
  marginMs: number;
  /** Whether the stream is connected and subscribed right now. */
  streamUp: () => boolean;
  now?: () => number;
}

export class PushCoverage {
  readonly watched = new Map<string, Watched>();
  private readonly recent = new Map<string, { snapshot: OrderSnapshot; at: number }>();
  /** Since when the stream has been subscribed without a gap (undefined before the first subscription). */
  private intactSince: number | undefined;
  /** Since when `recent` has lost nothing to its size cap. */
  private recentCompleteSince = 0;
  /** Orders let go of with something possibly undelivered (invariant 4): polled at their next check. */
  private readonly mustPoll = new Set<string>();
  /** Watched orders cannot be vouched for while a gap recovery re-reads them. */
  recovering = false;
  private readonly now: () => number;

  constructor(private readonly options: PushCoverageOptions) {
    this.now = options.now ?? Date.now;
  }

  streamIsUp(): boolean {
    return this.options.streamUp();
  }

  /** The stream subscribed (first time, or again after a gap whose events may be missing). */
  subscribed(): void {
    this.intactSince = this.now();
  }

  watch(clientOrderId: string, watched: Omit<Watched, 'generation'>): void {
    const known = this.watched.get(clientOrderId);
    this.watched.set(clientOrderId, known ? { ...known, workflowId: watched.workflowId, generation: known.generation + 1 } : { ...watched, generation: 1 });
  }

  /** Stops watching; `mayHaveMissed`: the workflow may lack something of it, so its next check polls. */
  unwatch(clientOrderId: string, mayHaveMissed = false): void {
    const watched = this.watched.get(clientOrderId);
    this.watched.delete(clientOrderId);
    if (mayHaveMissed || watched?.undelivered) {
      if (this.mustPoll.size >= this.options.maxRecent) {
        // Too many marks to keep: drop them all and vouch for no order known before now instead.
        this.mustPoll.clear();
        this.recentCompleteSince = this.now();
      }
      this.mustPoll.add(clientOrderId);
    }
  }

  /** An event for an order nobody here watches: kept, so a later coverage check can hand it over. */
  remember(snapshot: OrderSnapshot): void {
    const at = this.now();
    this.recent.delete(snapshot.clientOrderId);
    this.recent.set(snapshot.clientOrderId, { snapshot, at });
    this.prune(at);
  }

  /** Records the venue view a watched order's workflow was sent. */
  delivered(snapshot: OrderSnapshot): void {
    const w = this.watched.get(snapshot.clientOrderId);
    if (!w) return;
    w.status = snapshot.status;
    w.executedQty = snapshot.executedQty;
    w.orderId = snapshot.orderId;
    w.undelivered = false;
  }

  undeliverable(clientOrderId: string): void {
    const w = this.watched.get(clientOrderId);
    if (w) w.undelivered = true;
  }

  /**
   * Answers a workflow's check and, for what it covers, starts watching (invariant 3): from here
   * on this worker signals those orders' events to `workflowId`.
   */
  cover(query: CoverageQuery): CoverageAnswer {
    const answer: CoverageAnswer = { covered: [], uncovered: [], snapshots: [] };
    const now = this.now();
    this.prune(now);
    const recentFrom = Math.max(this.recentCompleteSince, now - this.options.retainMs);
    for (const order of query.orders) {
      const id = order.clientOrderId;
      const watched = this.watched.get(id);
      if (this.intactSince === undefined || !this.options.streamUp() || (watched && this.recovering)) {
        answer.uncovered.push(id);
      } else if (!watched && this.mustPoll.delete(id)) {
        answer.uncovered.push(id);
      } else if (watched?.undelivered) {
        // The workflow reads it now; events from here on are signalled again.
        watched.undelivered = false;
        answer.uncovered.push(id);
      } else if (watched) {
        watched.workflowId = query.workflowId;
        watched.generation++;
        delete watched.provisionalSince;
        answer.covered.push(id);
      } else if (order.knownSince - this.options.marginMs >= Math.max(this.intactSince, recentFrom)) {
        const kept = this.recent.get(id);
        this.recent.delete(id);
        this.watch(id, { workflowId: query.workflowId, symbol: order.symbol, ...(order.status !== undefined ? { status: order.status } : {}), ...(order.executedQty !== undefined ? { executedQty: order.executedQty } : {}) });
        if (kept) {
          answer.snapshots.push(kept.snapshot);
          this.delivered(kept.snapshot);
        }
        answer.covered.push(id);
      } else {
        answer.uncovered.push(id);
      }
    }
    return answer;
  }

  private prune(now: number): void {
    const oldest = now - this.options.retainMs;
    for (const [id, kept] of this.recent) {
      // Insertion order is arrival order (remember() re-inserts), so the first young entry ends it.
      if (kept.at >= oldest && this.recent.size <= this.options.maxRecent) break;
      this.recent.delete(id);
      if (kept.at >= oldest) this.recentCompleteSince = kept.at + 1;
    }
  }
}
