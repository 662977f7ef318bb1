/** Where the bridge writes what it decided about each entry (Postgres `decisions`). */
import type { DecisionStatus } from '../persistence/schemas';
import type { RiskDecision } from '../shared/decision';

export interface DecisionRecorder {
  recordReceived(decision: RiskDecision, entryId: string): Promise<void>;
  recordStarted(decisionId: string, workflowId: string): Promise<void>;
  recordRejected(decision: RiskDecision, entryId: string): Promise<void>;
  recordInvalid(info: { decisionId?: string; reason: string; raw?: string; entryId: string }): Promise<void>;
}

/** A row that had the decision's id before this entry: its status and content hash. */
export interface PriorDecision {
  status: DecisionStatus;
  /** sha-256 of its canonical decision (stored, or computed from its payload); undefined if unknown. */
  contentHash?: string;
}

export interface ClaimResult {
  /** The row that had this id before the claim; absent when the id was free. */
  before?: PriorDecision;
  /** Set while the kill switch is on (`trade-exec halt`); an approve/modify was then not recorded. */
  halted?: { reason: string | null };
}

/**
 * What the bridge needs: the recorder, and a claim that records a decision only when its id has
 * no row yet and tells what was there. That row is the second line of defence against executing a
 * decision twice: Temporal's id reuse policy remembers a closed workflow only for the namespace's
 * retention period (24 h on the dev server), the `decisions` row is kept for good.
 */
export interface BridgeRecorder extends DecisionRecorder {
  /**
   * Records the decision ('received', or 'rejected' with its reasons for a reject) with its
   * content hash, unless a row with its id exists (left untouched, except an 'invalid' one, which
   * gives way), `insert` is false, or trading is halted (approve/modify only). Tells what row was
   * there before and whether trading is halted, in one round trip.
   */
  claim(decision: RiskDecision, entryId: string, options?: { insert?: boolean }): Promise<ClaimResult>;
  /**
   * Records an entry a safety rule refused (status 'invalid', `refused_rule`, the reason) under its
   * decision id when that id is free, or, with `takeOver`, when the id's row is this same decision
   * still 'received' (never started); otherwise under `entry:<entryId>`. Idempotent.
   */
  recordRefused(r: { decision: RiskDecision; rule: string; reason: string; entryId: string; takeOver?: boolean }): Promise<void>;
}
