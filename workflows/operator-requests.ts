/**
 * The queue of operator requests in a trade's state. A handler only enqueues (or, for a new
 * timeout, applies at once: it sends nothing); the follow loop carries requests out one at a
 * time (operator-operations.ts), and an update's handler waits here for its request's outcome.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { FailureType } from '../src/shared/failure-types';
import type { OperatorOperation, TradeState } from '../src/shared/trade';
import type { SetTimeoutRequest } from './definitions';

export function enqueue(state: TradeState, kind: OperatorOperation['kind'], args: Record<string, unknown>): OperatorOperation {
  const op: OperatorOperation = { id: state.operations.length + 1, kind, args, status: 'pending', at: Date.now() };
  state.operations.push(op);
  return op;
}

/** Waits until the request was carried out; an update answers with the state, or the failure. */
export async function settled(state: TradeState, op: OperatorOperation): Promise<TradeState> {
  await condition(() => op.status !== 'pending');
  if (op.status === 'failed') throw ApplicationFailure.nonRetryable(op.result ?? `${op.kind} failed`, FailureType.OperationFailed);
  return state;
}

export function applyTimeout(state: TradeState, req: SetTimeoutRequest): TradeState {
  state.deadline = state.startedAt + req.timeoutMs;
  const op = enqueue(state, 'setTimeout', { timeoutMs: req.timeoutMs });
  op.status = 'done';
  op.result = `deadline ${new Date(state.deadline).toISOString()}`;
  return state;
}

export function hasPendingOperation(state: TradeState): boolean {
  return state.operations.some((op) => op.status === 'pending');
}
