/** Where the bridge writes what it decided about each entry (Postgres `decisions`). */
import type { DecisionStatus } from '../persistence/schemas';
import type { RiskDecision } from '../shared/decision';

export interface DecisionRecorder {
  recordReceived(decision: RiskDecision, entryId: string): Promise<void>;
  recordStarted(decisionId: string, workflowId: string): Promise<void>;
  recordRejected(decision: RiskDecision, entryId: string): Promise<void>;
  recordInvalid(info: { decisionId?: string; reason: string; raw?: string; entryId: string }): Promise<void>;
}

/**
 * What the bridge needs: the recorder plus a look-up of what is already recorded for a decision
 * id. The look-up is the second line of defence against executing a decision twice: Temporal's
 * id reuse policy only remembers a closed workflow for the namespace's retention period
 * (24 h on the dev server), the `decisions` row is kept for good.
 */
export interface BridgeRecorder extends DecisionRecorder {
  /** The stored status of this decision id, undefined when there is no row. */
  statusOf(decisionId: string): Promise<DecisionStatus | undefined>;
}
