/**
 * Push path for order updates: the exchange's user data stream (WebSocket API) delivers an
 * `executionReport` for every change of every order of the account; this router signals the
 * workflow of each order this worker watches, so a resting order costs no REST polls while the
 * stream is healthy (src/worker/push-coverage.ts says when a workflow may skip its poll).
 *
 * With several workers each keeps one stream per account and sees every event, but only an
 * order's watcher signals it (src/persistence/order-watchers.ts): the worker its workflow runs
 * on claims it, a lease says the watcher is alive, and another worker adopts the orders of a
 * watcher whose lease lapsed.
 *
 * Recovery, after a gap in the stream and for adopted orders, costs one `openOrders` per
 * symbol; only orders that left the book since (their final state) are read one by one, or with
 * one `allOrders` per symbol when there are many; only workflows whose orders changed are signalled.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { BinanceSpotClient, Order } from '../exchange';
import { isBinanceError } from '../exchange/errors';
import type { ExecutionReport, UserDataStream } from '../exchange/user-data-stream';
import type { Logger } from '../logging';
import { dec } from '../shared/exact-decimal';
import { isFinalExchangeStatus as isFinal } from '../shared/order-state';
import type { OrderSnapshot } from '../shared/trade';
import { createPgOrderWatcherStore, RESTING_STATUSES, type OrderWatcherStore } from '../persistence/order-watchers';
import { exchangeOrderUpdateSignal } from '../../workflows/definitions';
import { toSnapshot } from '../../activities/exchange-activities';
import { PushCoverage, type CoverageAnswer, type CoverageQuery, type Watched } from './push-coverage';

export interface OrderUpdateRouterOptions {
  stream: UserDataStream;
  temporal: Client;
  pool: Pool;
  exchange: BinanceSpotClient;
  logger: Logger;
  watchers?: OrderWatcherStore;
  /** This worker's watcher id (default: host, pid and a random suffix). */
  watcherId?: string;
  timing?: Partial<RouterTiming>;
}

export interface RouterTiming {
  /** Lease renewal. */
  heartbeatMs: number;
  /** A watcher silent this long is presumed dead and its orders adopted. */
  leaseMs: number;
  /** How often orphans are looked for. */
  adoptEveryMs: number;
  /** An order nobody claimed is adopted only once its row is this old (its workflow checks first). */
  unclaimedGraceMs: number;
  /** How long an unwatched order's latest event is kept for a coverage check. */
  retainMs: number;
  /** Clock allowance between the workflows' time and this worker's. */
  marginMs: number;
  /** While the stream is down, the watched orders are re-read this often. */
  downRecoveryEveryMs: number;
  /** A failed recovery or signal is tried again after this, doubling to 60 s. */
  retryFirstMs: number;
}

const DEFAULT_TIMING: RouterTiming = {
  heartbeatMs: 10_000,
  leaseMs: 30_000,
  adoptEveryMs: 15_000,
  unclaimedGraceMs: 60_000,
  retainMs: 15 * 60_000,
  marginMs: 5_000,
  downRecoveryEveryMs: 30_000,
  retryFirstMs: 2_000,
};

/** Missing orders of one symbol above this many are read with one allOrders (weight 20) instead of one query each (weight 4). */
const ONE_BY_ONE_MAX = 5;
/**
 * A watch taken when the order was sent is trusted this long without asking the database whether
 * another worker's check claimed it: a MARKET order's fill then costs no lookup, and a signal sent
 * by two workers inside the window is harmless (the workflow ignores a view it already has).
 */
const PROVISIONAL_TRUSTED_MS = 500;
/** Tries per signal before an order is marked undelivered (its workflow then polls it once). */
const SIGNAL_TRIES = 3;

const RESTING: ReadonlySet<string> = new Set(RESTING_STATUSES);

export class OrderUpdateRouter {
  readonly watcherId: string;
  readonly coverage: PushCoverage;
  readonly stats = { routed: 0, unknown: 0, recovered: 0, orphaned: 0, adopted: 0, undelivered: 0, recoveryRequests: 0 };
  private readonly watchers: OrderWatcherStore;
  private readonly timing: RouterTiming;
  /** Orders this worker's claim reached the database for. */
  private readonly claimed = new Set<string>();
  private recovering: Promise<void> | undefined;
  private pendingRecoveries = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly options: OrderUpdateRouterOptions) {
    this.watcherId = options.watcherId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.watchers = options.watchers ?? createPgOrderWatcherStore(options.pool);
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.coverage = new PushCoverage({
      retainMs: this.timing.retainMs,
      maxRecent: 200_000,
      marginMs: this.timing.marginMs,
      streamUp: () => {
        const stream = options.stream.state();
        return !this.stopped && stream.connected && stream.subscriptionId !== undefined;
      },
    });
  }

  async start(): Promise<void> {
    const { stream, logger } = this.options;
    stream.on('subscribed', () => this.coverage.subscribed());
    stream.on('executionReport', (e) => void this.route(e));
    stream.on('gap', (g) => {
      logger.warn({ reason: g.reason, since: new Date(g.since).toISOString() }, 'user data stream gap; recovering watched orders with openOrders');
      // Events of orders nobody watched may be missing too (an unreadable event is a gap without
      // a new subscription): coverage of those starts again from now.
      this.coverage.subscribed();
      // Marks the watched orders uncovered synchronously, before any coverage check can answer.
      void this.recoverInBackground(() => [...this.coverage.watched]);
    });
    await this.beat();
    this.every(this.timing.heartbeatMs, () => this.beat());
    await stream.start();
    // Whatever rested while no worker was listening (a restart, a crash) is adopted and re-read.
    void this.adopt();
    this.every(this.timing.adoptEveryMs, () => this.adopt());
    // While the stream stays down, nothing wakes the watched orders' workflows (they sleep up to
    // 30 min when covered): re-read them with openOrders per symbol until it is back.
    this.every(this.timing.downRecoveryEveryMs, async () => {
      if (this.coverage.streamIsUp() || this.coverage.watched.size === 0 || this.recovering) return;
      logger.warn({ orders: this.coverage.watched.size }, 'user data stream still down; re-reading watched orders with openOrders');
      await this.recoverInBackground(() => [...this.coverage.watched]);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.options.stream.close();
    // Others adopt this worker's orders at once rather than after the lease (a rolling restart).
    await this.watchers.release(this.watcherId).catch((err: unknown) => this.options.logger.warn({ err: errorText(err) }, 'could not release the watcher lease'));
  }

  /**
   * A workflow's coverage check (activities/push-coverage-activities.ts): what it may skip
   * polling, and from here on this worker signals those orders. Claims newly covered orders.
   */
  async cover(query: CoverageQuery): Promise<CoverageAnswer> {
    const answer = this.coverage.cover(query);
    const fresh = answer.covered.filter((id) => !this.claimed.has(id));
    if (fresh.length > 0) {
      await this.watchers.claim(this.watcherId, fresh);
      for (const id of fresh) this.claimed.add(id);
    }
    return answer;
  }

  /** In-memory only: the workflow's coverage check claims the order in the database. */
  watchSent(order: { clientOrderId: string; symbol: string; workflowId: string }): void {
    this.coverage.watch(order.clientOrderId, { workflowId: order.workflowId, symbol: order.symbol, provisionalSince: Date.now() });
    this.coverage.watched.get(order.clientOrderId)!.holding = true;
  }

  /**
   * The send is back. What its response said reaches the workflow with the activity's result, so
   * an event that says no more is dropped, and an order the response shows final is let go of
   * (a MARKET order's FILLED event would only wake its workflow for nothing); a newer event is
   * signalled. After a failed send (`view` absent) whatever was held is signalled.
   */
  sendFinished(order: { clientOrderId: string; view?: { status: string; executedQty: string } }): void {
    const watched = this.coverage.watched.get(order.clientOrderId);
    if (!watched?.holding) return;
    const held = watched.held;
    delete watched.holding;
    delete watched.held;
    const view = order.view;
    if (view) {
      watched.status = view.status;
      watched.executedQty = view.executedQty;
    }
    const newer = held !== undefined && (!view || saysMore(held, view));
    if (newer) void this.deliver(held, watched);
    else if (view && isFinal(view.status)) this.forget(order.clientOrderId);
  }

  /** A cancel's report carries the cancel request's id in `c` and the order's own id in `C`. */
  static snapshotOf(e: ExecutionReport): OrderSnapshot {
    const clientOrderId = e.X === 'CANCELED' && e.C ? e.C : e.c;
    return {
      symbol: e.s,
      orderId: e.i,
      clientOrderId,
      orderListId: e.g,
      status: e.X,
      type: e.o,
      side: e.S,
      price: e.p,
      stopPrice: e.P,
      origQty: e.q,
      executedQty: e.z,
      cummulativeQuoteQty: e.Z,
      updateTime: e.E,
      ...(e.eR !== undefined ? { expiryReason: e.eR } : {}),
    };
  }

  private async route(e: ExecutionReport): Promise<void> {
    const snapshot = OrderUpdateRouter.snapshotOf(e);
    const watched = this.coverage.watched.get(snapshot.clientOrderId);
    if (!watched) {
      this.stats.unknown++;
      this.coverage.remember(snapshot);
      return;
    }
    if (watched.holding) {
      if (!watched.held || saysMore(snapshot, watched.held)) watched.held = snapshot;
      return;
    }
    if (watched.provisionalSince !== undefined && Date.now() - watched.provisionalSince > PROVISIONAL_TRUSTED_MS && (await this.claimedElsewhere(snapshot.clientOrderId))) {
      this.forget(snapshot.clientOrderId);
      this.coverage.remember(snapshot);
      return;
    }
    await this.deliver(snapshot, watched);
  }

  /** Whether another worker's coverage check claimed an order this one sent (its workflow runs there). */
  private async claimedElsewhere(clientOrderId: string): Promise<boolean> {
    try {
      const generation = this.coverage.watched.get(clientOrderId)?.generation;
      const others = await this.watchers.heldByOthers(this.watcherId, [clientOrderId]);
      const watched = this.coverage.watched.get(clientOrderId);
      // Claimed here meanwhile (a check ran on this worker): the database's answer is stale.
      if (others.length === 0 || !watched || watched.generation !== generation) return false;
      return true;
    } catch {
      return false; // signalling twice is harmless; not signalling is not
    }
  }

  /** Signals the watched order's workflow, a few times if need be; a failure leaves it uncovered. */
  private async deliver(snapshot: OrderSnapshot, watched: Watched): Promise<void> {
    const id = snapshot.clientOrderId;
    for (let attempt = 1; ; attempt++) {
      const failure = await this.signal(snapshot, watched);
      if (failure === undefined) return;
      if (attempt >= SIGNAL_TRIES || this.stopped) {
        this.stats.undelivered++;
        this.coverage.undeliverable(id);
        this.options.logger.warn({ clientOrderId: id, err: errorText(failure) }, 'could not deliver order update; trying again in the background (its workflow polls at its next check)');
        this.later(this.timing.retryFirstMs, (delayMs) => this.redeliver(snapshot, delayMs));
        return;
      }
      await sleep(200 * 2 ** attempt);
    }
  }

  /** Retries a failed signal with backoff, as long as the order is watched and nothing newer went out. */
  private async redeliver(snapshot: OrderSnapshot, delayMs: number): Promise<void> {
    const watched = this.coverage.watched.get(snapshot.clientOrderId);
    if (!watched?.undelivered || this.stopped) return;
    if ((await this.signal(snapshot, watched)) !== undefined) this.later(Math.min(delayMs * 2, 60_000), (next) => this.redeliver(snapshot, next));
  }

  /** One signal; undefined when it was delivered (or its workflow has closed), else the error. */
  private async signal(snapshot: OrderSnapshot, watched: Watched): Promise<unknown> {
    try {
      await this.options.temporal.workflow.getHandle(watched.workflowId).signal(exchangeOrderUpdateSignal, snapshot);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) return err;
      this.closedWorkflow(snapshot, watched.workflowId);
      return undefined;
    }
    this.stats.routed++;
    this.coverage.delivered(snapshot);
    if (isFinal(snapshot.status)) this.forget(snapshot.clientOrderId);
    return undefined;
  }

  private later(delayMs: number, run: (delayMs: number) => Promise<void>): void {
    if (this.stopped) return;
    const timer = setTimeout(() => void run(delayMs), delayMs);
    timer.unref();
  }

  /**
   * A closed trade winds down only once each of its orders is final, so a push that says an
   * order is still open for a closed workflow means nothing manages it: say so loudly.
   */
  private closedWorkflow(snapshot: OrderSnapshot, workflowId: string): void {
    this.forget(snapshot.clientOrderId);
    if (isFinal(snapshot.status)) return;
    this.stats.orphaned++;
    this.options.logger.error(
      { clientOrderId: snapshot.clientOrderId, symbol: snapshot.symbol, status: snapshot.status, workflowId },
      'the exchange reports an open order whose workflow has closed: no workflow manages it; cancel it or reconcile',
    );
  }

  private forget(clientOrderId: string, mayHaveMissed = false): void {
    this.coverage.unwatch(clientOrderId, mayHaveMissed);
    this.claimed.delete(clientOrderId);
  }

  private async beat(): Promise<void> {
    try {
      await this.watchers.heartbeat(this.watcherId);
    } catch (err) {
      this.options.logger.warn({ err: errorText(err) }, 'could not renew the watcher lease; another worker may adopt this one\'s orders');
    }
  }

  /** Takes over orders whose watcher died, lets go of orders another worker claimed since, and re-reads the adopted. */
  private async adopt(): Promise<void> {
    if (this.stopped) return;
    try {
      // Orders whose workflow moved to (or was placed from) another worker, which signals them
      // now, and orders the books have final (a refused send leaves a watch nothing else ends).
      // A check that claims an order meanwhile bumps its generation: then the answer is stale.
      const generations = new Map([...this.coverage.watched].map(([id, w]) => [id, w.generation]));
      for (const id of await this.watchers.noLongerMine(this.watcherId, [...generations.keys()])) {
        const watched = this.coverage.watched.get(id);
        if (watched && watched.generation === generations.get(id) && !watched.undelivered) this.forget(id);
      }
      const rows = await this.watchers.adoptOrphans(this.watcherId, this.timing.leaseMs, this.timing.unclaimedGraceMs);
      if (rows.length === 0) return;
      this.stats.adopted += rows.length;
      this.options.logger.info({ orders: rows.length }, 'adopted resting orders whose watcher is gone; re-reading them with openOrders');
      const adopted: Array<[string, Watched]> = rows.map((r) => {
        this.coverage.watch(r.clientOrderId, { workflowId: r.workflowId, symbol: r.symbol, status: r.status, executedQty: r.executedQty, ...(r.orderId !== undefined ? { orderId: r.orderId } : {}) });
        this.claimed.add(r.clientOrderId);
        return [r.clientOrderId, this.coverage.watched.get(r.clientOrderId)!];
      });
      await this.recoverInBackground(() => adopted);
    } catch (err) {
      this.options.logger.warn({ err: errorText(err) }, 'adopting orphaned orders failed; trying again at the next scan');
    }
  }

  /**
   * One recovery at a time (gaps come in bursts); a second request waits for the first and then
   * runs. Its failure is logged, never an unhandled rejection that would end the worker: the
   * watched orders stay uncovered, so their workflows poll.
   */
  private recoverInBackground(which: () => Array<[string, Watched]>): Promise<void> {
    this.pendingRecoveries++;
    this.coverage.recovering = true;
    const run = (this.recovering ?? Promise.resolve())
      .then(async () => {
        const orders = which();
        try {
          await this.recover(orders);
        } catch (err) {
          // What the venue said of them is not known: each workflow reads its order once by
          // REST at its next check, and the recovery is tried again until it gets through.
          for (const [id] of orders) this.coverage.undeliverable(id);
          this.options.logger.warn({ err: errorText(err), orders: orders.length }, 'order recovery failed; trying again');
          this.later(this.timing.retryFirstMs, (delayMs) => this.retryRecovery(orders, delayMs));
        }
      })
      .finally(() => {
        this.pendingRecoveries--;
        if (this.pendingRecoveries === 0) this.coverage.recovering = false;
        if (this.recovering === run) this.recovering = undefined;
      });
    this.recovering = run;
    return run;
  }

  private async retryRecovery(orders: Array<[string, Watched]>, delayMs: number): Promise<void> {
    const still = orders.filter(([id]) => this.coverage.watched.has(id));
    if (still.length === 0 || this.stopped) return;
    try {
      await this.recover(still);
    } catch {
      this.later(Math.min(delayMs * 2, 60_000), (next) => this.retryRecovery(still, next));
    }
  }

  /** Re-reads these orders with one openOrders per symbol and signals the ones that changed. */
  async recover(orders: Array<[string, Watched]>): Promise<void> {
    const bySymbol = new Map<string, Array<[string, Watched]>>();
    for (const entry of orders) {
      const status = entry[1].status;
      if (status !== undefined && !RESTING.has(status)) continue;
      bySymbol.set(entry[1].symbol, [...(bySymbol.get(entry[1].symbol) ?? []), entry]);
    }
    for (const [symbol, entries] of bySymbol) {
      this.stats.recoveryRequests++;
      const open = new Map((await this.options.exchange.openOrders(symbol)).map((o) => [o.clientOrderId, o]));
      const gone: Array<[string, Watched]> = [];
      for (const entry of entries) {
        const order = open.get(entry[0]);
        if (order) await this.deliverIfChanged(toSnapshot(order), entry[1]);
        else gone.push(entry);
      }
      for (const [id, watched] of await this.readGone(symbol, gone)) {
        if (watched.order) await this.deliverIfChanged(toSnapshot(watched.order), watched.entry);
        // Never placed (or not visible yet): its workflow settles it by query; its next check polls.
        else this.forget(id, true);
      }
      this.stats.recovered += entries.length;
    }
  }

  /** Orders that left the book: one query each when few, one allOrders from the oldest id when many. */
  private async readGone(symbol: string, gone: Array<[string, Watched]>): Promise<Array<[string, { entry: Watched; order: Order | undefined }]>> {
    const ids = gone.map(([, w]) => w.orderId).filter((id): id is number => id !== undefined);
    let listed = new Map<string, Order>();
    if (gone.length > ONE_BY_ONE_MAX && ids.length > 0) {
      this.stats.recoveryRequests++;
      listed = new Map((await this.options.exchange.allOrders({ symbol, orderId: Math.min(...ids), limit: 1000 })).map((o) => [o.clientOrderId, o]));
    }
    const out: Array<[string, { entry: Watched; order: Order | undefined }]> = [];
    for (const [id, entry] of gone) {
      let order = listed.get(id);
      if (!order) {
        this.stats.recoveryRequests++;
        try {
          order = await this.options.exchange.getOrder({ symbol, origClientOrderId: id });
        } catch (err) {
          // Only the exchange saying it has no such order means absent; anything else is unknown.
          if (!isBinanceError(err, 'not_found')) throw err;
        }
      }
      out.push([id, { entry, order }]);
    }
    return out;
  }

  private async deliverIfChanged(snapshot: OrderSnapshot, watched: Watched): Promise<void> {
    if (watched.status === snapshot.status && watched.executedQty !== undefined && dec(watched.executedQty).eq(snapshot.executedQty)) return;
    await this.deliver(snapshot, watched);
  }

  private every(ms: number, run: () => Promise<void>): void {
    const timer = setInterval(() => void run(), ms);
    timer.unref();
    this.timers.push(timer);
  }
}

/** Whether `a` tells more than `b`: more executed, or final where `b` is not. */
function saysMore(a: { status: string; executedQty: string }, b: { status: string; executedQty: string }): boolean {
  const qa = dec(a.executedQty);
  const qb = dec(b.executedQty);
  return qa.gt(qb) || (qa.eq(qb) && isFinal(a.status) && !isFinal(b.status));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
