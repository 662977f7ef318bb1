/**
 * Activities that talk to the exchange. The rules they exist to keep:
 *
 * 1. A retry never creates a second order. Every order carries a deterministic client order id;
 *    before any request that may place an intent is sent, it is written to the send log with the
 *    instant after which the exchange can no longer accept it (the recvWindow rule). Whenever an
 *    intent may have been sent before (an earlier attempt, an earlier run, a run since a reset)
 *    or a send's outcome is unknown, we wait until that instant has passed and ask the exchange
 *    about the id before anything is sent again.
 * 2. An attempt that may no longer be the current one never sends: right before the bytes go out
 *    it checks that it was not cancelled, that its start-to-close deadline is not near, and that
 *    it has been heartbeating; otherwise it fails as AttemptSuperseded and the next attempt settles.
 * 3. A refusal by the exchange is the order's fate only when no earlier send of the intent can
 *    have landed. After an unknown outcome it is just another unknown.
 * 4. Reads and cancels retry through anything (an outage, a key answering -2015): a trade must
 *    never end while one of its orders may still be live.
 *
 * The assumption under all of it: Binance refuses a signed request once its `timestamp` is more
 * than `recvWindow` old (checked on arrival and again just before matching), and refuses one more
 * than 1 s ahead of its clock; the settle margin covers that second and the clocks of our workers.
 *
 * This factory composes the activities from modules by concern, each built from the shared
 * dependencies (exchange-common.ts): order-preparation-activities.ts (exchange rules),
 * placement-activities.ts over submit-once.ts (rules 1 to 3; current-attempt.ts keeps rule 2),
 * order-status-activities.ts (query, settle by client order id) and cancel-amend-activities.ts
 * (rule 4). The activity names are in workflow histories: they never change.
 */
import { createCancelAmendActivities } from './cancel-amend-activities';
import { createExchangeCommon, type ExchangeActivityDeps } from './exchange-common';
import { createOrderPreparationActivities } from './order-preparation-activities';
import { createOrderStatusActivities } from './order-status-activities';
import { createPlacementActivities } from './placement-activities';
import { createSubmission } from './submit-once';

// The paths other modules import these from.
export type { AmendQuantityRequest } from './cancel-amend-activities';
export { checkActivityTimeouts, longestSubmissionMs } from './current-attempt';
export type { ExchangeActivityDeps, OrderRef } from './exchange-common';
export { readFailure, toFailure } from './exchange-failures';
export type { PreparedOrder, PrepareOrderRequest } from './order-preparation-activities';
export { MAX_CARRIED_FILLS, responseFills, toSnapshot } from './order-snapshots';

export function createExchangeActivities(deps: ExchangeActivityDeps) {
  const common = createExchangeCommon(deps);
  return {
    ...createOrderPreparationActivities(common),
    ...createPlacementActivities(common, createSubmission(common)),
    ...createOrderStatusActivities(common),
    ...createCancelAmendActivities(common),
  };
}
