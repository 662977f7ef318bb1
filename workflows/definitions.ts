/**
 * The operator-facing surface of a TradeExecution: queries, signals and updates. Imported by
 * the workflow and by clients (CLI, tests, the worker's push listener).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OrderSnapshot, TradeState } from '../src/shared/trade';

export const WORKFLOW_TYPE = 'TradeExecution';

/** The full live state: orders, fills, average price, commissions, every transition. */
export const getStateQuery = defineQuery<TradeState>('getState');

/** Pushed by the worker's user-data-stream listener when the exchange reports a change. */
export const exchangeOrderUpdateSignal = defineSignal<[OrderSnapshot]>('exchangeOrderUpdate');

export interface CancelRequest {
  reason?: string;
}
export interface AmendRequest {
  price?: string;
  quantity?: string;
}
export interface SetTimeoutRequest {
  timeoutMs: number;
}

export const cancelUpdate = defineUpdate<TradeState, [CancelRequest]>('cancel');
export const amendUpdate = defineUpdate<TradeState, [AmendRequest]>('amend');
export const closeNowUpdate = defineUpdate<TradeState, []>('closeNow');
export const setTimeoutUpdate = defineUpdate<TradeState, [SetTimeoutRequest]>('setTimeout');

export const cancelSignal = defineSignal<[CancelRequest]>('requestCancel');
export const amendSignal = defineSignal<[AmendRequest]>('requestAmend');
export const closeNowSignal = defineSignal<[]>('requestCloseNow');
export const setTimeoutSignal = defineSignal<[SetTimeoutRequest]>('requestSetTimeout');
