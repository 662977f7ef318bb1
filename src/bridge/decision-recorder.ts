/** Where the bridge writes what it decided about each entry (Postgres `decisions`). */
import type { RiskDecision } from '../shared/decision';

export interface DecisionRecorder {
  recordReceived(decision: RiskDecision, entryId: string): Promise<void>;
  recordStarted(decisionId: string, workflowId: string): Promise<void>;
  recordRejected(decision: RiskDecision, entryId: string): Promise<void>;
  recordInvalid(info: { decisionId?: string; reason: string; raw?: string; entryId: string }): Promise<void>;
}
