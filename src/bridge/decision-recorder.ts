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
 * What the bridge needs: the recorder, and a claim that records a decision only when its id has
 * no row yet and tells what was there. That row is the second line of defence against executing a
 * decision twice: Temporal's id reuse policy remembers a closed workflow only for the namespace's
 * retention period (24 h on the dev server), the `decisions` row is kept for good.
 */
export interface BridgeRecorder extends DecisionRecorder {
  /**
   * Records the decision ('received', or 'rejected' with its reasons for a reject) unless a row
   * with its id exists, which is left untouched. Returns the existing row's status, or undefined
   * when this call created the row.
   */
  claim(decision: RiskDecision, entryId: string): Promise<DecisionStatus | undefined>;
}
