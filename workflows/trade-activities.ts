/**
 * The activities a trade uses, one proxy per role, each with the retry policy its role needs:
 *
 * - `sender`: requests that may place an order. Bounded attempts: a submission that cannot get
 *   through for half a minute is settled by `exchangeReads.findOrder` instead (it is never
 *   retried for ever: a MARKET order placed minutes late is not what risk approved).
 * - `canceller`: cancels and amends. Unbounded: a trade must not end while an order may be live.
 * - `exchangeReads`: order status and settling. Unbounded, for the same reason.
 * - `planner`: order validation against the exchange's rules and the pre-trade risk guard
 *   (local: one workflow task).
 * - `books`: Postgres and Redis. Unbounded, patient; local for the short steps.
 * - `coverage`: whether the user data stream vouches for the orders (local, so it runs on the
 *   worker that then signals them). A failed check means "poll": a few quick attempts only.
 */
import { type ActivityOptions, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { EXCHANGE_HEARTBEAT_TIMEOUT_MS, EXCHANGE_START_TO_CLOSE_MS } from '../src/shared/activity-timeouts';
import { BOOKKEEPING_NON_RETRYABLE, READ_NON_RETRYABLE, SUBMISSION_NON_RETRYABLE } from '../src/shared/failure-types';

const SENDING = {
  startToCloseTimeout: EXCHANGE_START_TO_CLOSE_MS,
  heartbeatTimeout: EXCHANGE_HEARTBEAT_TIMEOUT_MS,
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumInterval: '10s',
    maximumAttempts: 6,
    nonRetryableErrorTypes: [...SUBMISSION_NON_RETRYABLE],
  },
} satisfies ActivityOptions;

const UNTIL_ANSWERED = {
  startToCloseTimeout: EXCHANGE_START_TO_CLOSE_MS,
  heartbeatTimeout: EXCHANGE_HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: [...READ_NON_RETRYABLE] },
} satisfies ActivityOptions;

const BOOKKEEPING = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s', nonRetryableErrorTypes: [...BOOKKEEPING_NON_RETRYABLE] },
} satisfies ActivityOptions;

const PLANNING = {
  startToCloseTimeout: '30s',
  localRetryThreshold: '10s' as const,
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 10, nonRetryableErrorTypes: [...SUBMISSION_NON_RETRYABLE] },
} satisfies ActivityOptions & { localRetryThreshold: '10s' };

export interface TradeActivities {
  sender: Pick<Activities, 'placeOrder' | 'placeOrderList' | 'placeProtectedEntry'>;
  canceller: Pick<Activities, 'cancelOrder' | 'cancelOrderList' | 'amendOrderQuantity'>;
  exchangeReads: Pick<Activities, 'queryOrder' | 'findOrder'>;
  planner: Pick<Activities, 'prepareOrder' | 'checkPreTradeRisk'>;
  /** Short, idempotent bookkeeping as local activities: one workflow task for a run of them. */
  books: Pick<Activities, 'recordOrder' | 'publishReport' | 'recordDecisionOutcome' | 'raiseAlert' | 'storedTransitions'>;
  /** Reads myTrades (costly in weight): an ordinary activity, so a refused task completion does not re-run it. */
  settlement: Pick<Activities, 'settleFills'>;
  coverage: Pick<Activities, 'coverOrders'>;
}

/** `orderTaskQueue`: the queue of the order-sending activities, when they have one of their own. */
export function tradeActivities(orderTaskQueue: string | undefined): TradeActivities {
  const onOrderQueue = orderTaskQueue ? { taskQueue: orderTaskQueue } : {};
  return {
    sender: proxyActivities<Activities>({ ...SENDING, ...onOrderQueue }),
    canceller: proxyActivities<Activities>({ ...UNTIL_ANSWERED, ...onOrderQueue }),
    exchangeReads: proxyActivities<Activities>(UNTIL_ANSWERED),
    planner: proxyLocalActivities<Activities>(PLANNING),
    books: proxyLocalActivities<Activities>({ ...BOOKKEEPING, localRetryThreshold: '10s' }),
    // Up to 2 min: it may wait for rate budget and read several pages of myTrades.
    settlement: proxyActivities<Activities>({ ...BOOKKEEPING, startToCloseTimeout: EXCHANGE_START_TO_CLOSE_MS }),
    coverage: proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry: { initialInterval: '200ms', maximumAttempts: 3 } }),
  };
}
