/**
 * Postgres implementations of the two ports the rest of the service writes through: the
 * activities' TradeStore and the bridge's DecisionRecorder. They translate workflow-side types
 * into the store's records; the store functions carry the idempotency and transactions.
 */
import type { Pool } from 'pg';
import type { TradeStore } from '../../activities/bookkeeping-activities';
import type { DecisionRecorder } from '../bridge/decision-recorder';
import { toWire } from '../shared/decimal';
import type { RiskDecision } from '../shared/decision';
import { isOrderStatus, type OrderStatus } from './schemas';
import type { TrackedOrder } from '../shared/trade';
import { ORDER_STATES, type OrderState } from '../shared/order-state';
import { withTransaction } from './db';
import { decisionRecordFrom, getDecision, recordDecision, updateDecisionStatus } from './stores/decisions';
import { insertExecutionReport, markReportPublished } from './stores/execution-reports';
import { applyFills } from './stores/ledger';
import { listOrderEvents, recordOrderTransition, upsertOrder } from './stores/orders';

export function createPgTradeStore(pool: Pool): TradeStore {
  return {
    async storedTransitions(clientOrderId) {
      const rows = await listOrderEvents(pool, clientOrderId);
      return rows.flatMap((r) => {
        const from = orderStateOrUndefined(r.from_state);
        const to = orderStateOrUndefined(r.to_state);
        return from && to ? [{ seq: r.seq, from, to, reason: r.reason ?? '', at: r.at.getTime() }] : [];
      });
    },
    async recordOrder({ decisionId, workflowId, order, reports }) {
      const snap = order.exchange;
      return withTransaction(pool, async (tx) => {
        await upsertOrder(tx, {
          client_order_id: order.intent.clientOrderId,
          decision_id: decisionId,
          workflow_id: workflowId,
          symbol: order.intent.symbol,
          side: order.intent.side,
          type: order.intent.type,
          time_in_force: order.intent.timeInForce ?? null,
          purpose: order.intent.purpose,
          exchange_order_id: snap ? String(snap.orderId) : null,
          order_list_id: snap?.orderListId !== undefined && snap.orderListId >= 0 ? String(snap.orderListId) : null,
          price: order.intent.price ?? null,
          stop_price: order.intent.stopPrice ?? null,
          orig_qty: snap?.origQty ?? order.intent.quantity,
          executed_qty: snap?.executedQty ?? '0',
          cummulative_quote_qty: snap?.cummulativeQuoteQty ?? '0',
          status: storedStatus(order),
        });
        // The outbox: a transition's report is stored with its event, in this transaction, so a
        // transition is never recorded without its report nor reported without being recorded.
        // Events already recorded by an earlier call already have theirs.
        const reportBySeq = new Map(reports.map((r) => [r.transition_seq, r]));
        for (const t of order.transitions) {
          const { inserted } = await recordOrderTransition(tx, {
            client_order_id: order.intent.clientOrderId,
            seq: t.seq,
            from: t.from,
            to: t.to,
            reason: t.reason,
            at: t.at,
          });
          const report = reportBySeq.get(t.seq);
          if (!inserted || !report) continue;
          await insertExecutionReport(tx, {
            report_id: report.report_id,
            report_type: 'order_update',
            decision_id: report.decision_id,
            workflow_id: report.workflow_id,
            client_order_id: report.client_order_id,
            status: report.to_state,
            payload: JSON.parse(JSON.stringify(report)),
          });
        }
        if (reports.length === 0) return [];
        const unpublished = await tx.query<{ report_id: string }>(
          'SELECT report_id FROM execution_reports WHERE report_id = ANY($1) AND stream_id IS NULL',
          [reports.map((r) => r.report_id)],
        );
        const pending = new Set(unpublished.rows.map((r) => r.report_id));
        return reports.filter((r) => pending.has(r.report_id));
      });
    },

    async applyFills({ symbol, baseAsset, quoteAsset, fills, commissionAssetPrices }) {
      await applyFills(pool, {
        symbol,
        baseAsset,
        quoteAsset,
        commissionAssetPrices,
        unpricedCommission: 'exclude',
        // Spot cannot short: a SELL beyond the recorded position sold inventory we did not
        // record buying; book the excess as external inventory rather than refuse a real fill.
        excessSell: 'external_inventory',
        fills: fills.map((f) => ({
          symbol: f.symbol,
          trade_id: String(f.tradeId),
          exchange_order_id: String(f.orderId),
          client_order_id: f.clientOrderId,
          side: f.side,
          price: f.price,
          qty: f.qty,
          quote_qty: f.quoteQty,
          commission: toWire(f.commission),
          commission_asset: f.commissionAsset,
          is_maker: f.isMaker,
          trade_time: f.time,
        })),
      });
    },

    async saveReport(report) {
      await insertExecutionReport(pool, {
        report_id: report.report_id,
        report_type: report.report_type,
        decision_id: report.decision_id,
        workflow_id: report.workflow_id,
        client_order_id: report.client_order_id,
        status: report.status,
        payload: JSON.parse(JSON.stringify(report)),
      });
    },

    async markReportPublished(reportId, streamId) {
      await markReportPublished(pool, reportId, streamId);
    },

    async recordDecisionOutcome(decisionId, status, error) {
      await updateDecisionStatus(pool, decisionId, status, { error: error ?? null });
    },
  };
}

export function createPgDecisionRecorder(pool: Pool): DecisionRecorder {
  return {
    async recordReceived(decision: RiskDecision, entryId: string) {
      await recordDecision(pool, { ...decisionRecordFrom(decision, 'received'), stream_entry_id: entryId });
    },
    async recordStarted(decisionId: string, workflowId: string) {
      await updateDecisionStatus(pool, decisionId, 'started', { workflowId });
    },
    async recordRejected(decision: RiskDecision, entryId: string) {
      await recordDecision(pool, { ...decisionRecordFrom(decision, 'rejected'), workflow_id: null, stream_entry_id: entryId });
    },
    async recordInvalid({ decisionId, reason, raw, entryId }) {
      let payload: unknown = raw ?? null;
      try {
        payload = raw === undefined ? null : JSON.parse(raw);
      } catch {
        // not JSON: keep the text as received
      }
      const record = {
        status: 'invalid' as const,
        reasons: [reason],
        payload: JSON.parse(JSON.stringify(payload ?? null)),
        stream_entry_id: entryId,
      };
      // A malformed message must never overwrite a real decision that shares its id, so it is
      // recorded under its own id only while that id is free, else under its stream entry id.
      const first = decisionId
        ? await recordDecision(pool, { ...record, decision_id: decisionId }, { insertOnly: true })
        : { inserted: false };
      if (!first.inserted) {
        await recordDecision(pool, { ...record, decision_id: `entry:${entryId}` }, { insertOnly: true });
      }
    },
  };
}

/**
 * The orders.status to write: the venue's status when it told us one we know; without a venue
 * view, what the workflow settled (never placed, refused before it landed), else PENDING_SUBMIT —
 * recorded before the request leaves, so a crash mid-request leaves a row to reconcile. An
 * unknown venue status (the user data stream's `X` is any string) writes PENDING_SUBMIT, which
 * changes nothing on an existing row, instead of failing every retry.
 */
function storedStatus(order: TrackedOrder): OrderStatus {
  const snap = order.exchange;
  if (snap) return isOrderStatus(snap.status) ? snap.status : 'PENDING_SUBMIT';
  if (order.state === 'not_placed' || order.state === 'failed') return 'NOT_PLACED';
  if (order.state === 'rejected') return 'REJECTED';
  return 'PENDING_SUBMIT';
}

function orderStateOrUndefined(state: string | null): OrderState | undefined {
  return state !== null && (ORDER_STATES as readonly string[]).includes(state) ? (state as OrderState) : undefined;
}
