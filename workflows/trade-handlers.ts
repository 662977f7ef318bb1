/**
 * The operator surface of a trade: the query, the push signal, and each request as a signal
 * (fire and forget) and as an update (validated first, answered once carried out). Handlers
 * never act on the exchange: they enqueue, and the trade's follow loop acts.
 */
import { setHandler } from '@temporalio/workflow';
import type { OrderSnapshot, TradeState } from '../src/shared/trade';
import * as messages from './definitions';
import { validateAmend, validateSetTimeout, validateWorking } from './operator-validation';
import { applyTimeout, enqueue, settled } from './operator-requests';

/** What the handlers need of a trade: its state and where pushed order updates wait. */
export interface HandledTrade {
  readonly state: TradeState;
  readonly pushes: OrderSnapshot[];
}

export function registerTradeHandlers(trade: HandledTrade): void {
  const state = trade.state;
  setHandler(messages.getStateQuery, () => state);
  setHandler(messages.exchangeOrderUpdateSignal, (snap) => void trade.pushes.push(snap));
  setHandler(messages.cancelSignal, (req: messages.CancelRequest) => void enqueue(state, 'cancel', { reason: req?.reason ?? 'operator signal' }));
  setHandler(messages.cancelUpdate, (req) => settled(state, enqueue(state, 'cancel', { reason: req?.reason ?? 'operator update' })), {
    validator: (_req: messages.CancelRequest) => validateWorking(state),
  });
  setHandler(messages.amendSignal, (req: messages.AmendRequest) => {
    const op = enqueue(state, 'amend', { ...req });
    try {
      validateAmend(state, req);
    } catch (err) {
      op.status = 'failed';
      op.result = err instanceof Error ? err.message : String(err);
    }
  });
  setHandler(messages.amendUpdate, (req) => settled(state, enqueue(state, 'amend', { ...req })), { validator: (req) => validateAmend(state, req) });
  setHandler(messages.closeNowSignal, () => void enqueue(state, 'closeNow', {}));
  setHandler(messages.closeNowUpdate, () => settled(state, enqueue(state, 'closeNow', {})), { validator: () => validateWorking(state) });
  setHandler(messages.setTimeoutSignal, (req) => {
    try {
      validateSetTimeout(state, req, Date.now());
      applyTimeout(state, req);
    } catch {
      // A signal has no one to answer; an invalid one changes nothing.
    }
  });
  setHandler(messages.setTimeoutUpdate, (req) => applyTimeout(state, req), { validator: (req) => validateSetTimeout(state, req, Date.now()) });
}
