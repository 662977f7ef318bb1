/**
 * Push path for order updates: the exchange's user data stream (WebSocket API) delivers an
 * `executionReport` for every change of every order; this router signals the workflow that owns
 * the order, so fills are seen at once and the workflows' REST polling stays a slow fallback.
 *
 * After a gap in the stream (reconnect, silent subscription), and when the worker starts, events
 * may have been missed: every open order we know of is read once by REST and pushed the same way.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { BinanceSpotClient } from '../exchange';
import type { ExecutionReport, UserDataStream } from '../exchange/user-data-stream';
import type { Logger } from '../logging';
import type { OrderSnapshot } from '../shared/trade';
import { exchangeOrderUpdateSignal } from '../../workflows/definitions';
import { toSnapshot } from '../../activities/exchange-activities';

export interface OrderUpdateRouterOptions {
  stream: UserDataStream;
  temporal: Client;
  pool: Pool;
  exchange: BinanceSpotClient;
  logger: Logger;
}

const OPEN_STATUSES = ['PENDING_SUBMIT', 'PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL'];

export class OrderUpdateRouter {
  /** client order id → workflow id; orders never change owner, so entries never go stale. */
  private readonly owners = new Map<string, string>();
  readonly stats = { routed: 0, unknown: 0, recovered: 0, orphaned: 0 };
  private recovering: Promise<void> | undefined;

  constructor(private readonly o: OrderUpdateRouterOptions) {}

  async start(): Promise<void> {
    this.o.stream.on('executionReport', (e) => void this.route(e));
    this.o.stream.on('gap', (g) => {
      this.o.logger.warn({ reason: g.reason, since: new Date(g.since).toISOString() }, 'user data stream gap; recovering open orders by REST');
      void this.recoverInBackground();
    });
    await this.o.stream.start();
    // Whatever happened while no worker was listening (a restart, a crash) was not pushed.
    void this.recoverInBackground();
  }

  async stop(): Promise<void> {
    await this.o.stream.close();
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
    };
  }

  private async route(e: ExecutionReport): Promise<void> {
    const snap = OrderUpdateRouter.snapshotOf(e);
    try {
      await this.deliver(snap);
    } catch (err) {
      // The workflow's polling fallback will see the change; nothing is lost by dropping a push.
      this.o.logger.warn({ clientOrderId: snap.clientOrderId, err: errorText(err) }, 'could not deliver order update');
    }
  }

  private async deliver(snap: OrderSnapshot, workflowId?: string): Promise<void> {
    const owner = workflowId ?? (await this.ownerOf(snap.clientOrderId));
    if (!owner) {
      this.stats.unknown++;
      return;
    }
    try {
      await this.o.temporal.workflow.getHandle(owner).signal(exchangeOrderUpdateSignal, snap);
      this.stats.routed++;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // A closed trade winds down only once each of its orders is final, so a push that says
      // an order is still open for a closed workflow means nothing manages it: say so loudly.
      if (OPEN_STATUSES.includes(snap.status)) {
        this.stats.orphaned++;
        this.o.logger.error(
          { clientOrderId: snap.clientOrderId, symbol: snap.symbol, status: snap.status, workflowId: owner },
          'the exchange reports an open order whose workflow has closed: no workflow manages it; cancel it or reconcile',
        );
      }
    }
  }

  private async ownerOf(clientOrderId: string): Promise<string | undefined> {
    const cached = this.owners.get(clientOrderId);
    if (cached) return cached;
    const { rows } = await this.o.pool.query<{ workflow_id: string | null }>(
      'SELECT workflow_id FROM orders WHERE client_order_id = $1',
      [clientOrderId],
    );
    const owner = rows[0]?.workflow_id ?? undefined;
    if (owner) {
      if (this.owners.size > 100_000) this.owners.clear();
      this.owners.set(clientOrderId, owner);
    }
    return owner;
  }

  /**
   * One recovery at a time (gaps can come in bursts), and its failure (Postgres down) is logged,
   * never an unhandled rejection that would end the worker: the workflows' polling covers it.
   */
  private recoverInBackground(): Promise<void> {
    this.recovering ??= this.recover()
      .catch((err) => this.o.logger.warn({ err: errorText(err) }, 'open-order recovery failed; the workflows will poll'))
      .finally(() => (this.recovering = undefined));
    return this.recovering;
  }

  /** Reads every open order we track once by REST and pushes what the exchange says. */
  async recover(): Promise<void> {
    const { rows } = await this.o.pool.query<{ client_order_id: string; symbol: string; workflow_id: string | null }>(
      'SELECT client_order_id, symbol, workflow_id FROM orders WHERE status = ANY($1) AND workflow_id IS NOT NULL',
      [OPEN_STATUSES],
    );
    for (const row of rows) {
      try {
        const order = await this.o.exchange.getOrder({ symbol: row.symbol, origClientOrderId: row.client_order_id });
        await this.deliver(toSnapshot(order), row.workflow_id ?? undefined);
        this.stats.recovered++;
      } catch (err) {
        this.o.logger.warn({ clientOrderId: row.client_order_id, err: errorText(err) }, 'recovery query failed; the workflow will poll');
      }
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
