/** The bridge's recorder on Postgres: the shared decision recorder plus `claim`. */
import type { Pool } from 'pg';
import { createPgDecisionRecorder } from '../persistence/pg-ports';
import { decisionRecordFrom, recordDecision } from '../persistence/portfolio-store';
import type { BridgeRecorder } from './decision-recorder';

export function createPgBridgeRecorder(pool: Pool): BridgeRecorder {
  return {
    ...createPgDecisionRecorder(pool),
    async claim(decision, entryId) {
      const record =
        decision.decision === 'reject'
          ? { ...decisionRecordFrom(decision, 'rejected'), workflow_id: null, stream_entry_id: entryId }
          : { ...decisionRecordFrom(decision, 'received'), stream_entry_id: entryId };
      // INSERT ... ON CONFLICT DO NOTHING: one round trip for a new id, a second read otherwise.
      const r = await recordDecision(pool, record, { insertOnly: true });
      return r.inserted ? undefined : r.status;
    },
  };
}
