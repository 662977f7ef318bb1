/** The bridge's recorder on Postgres: the shared decision recorder plus a status look-up. */
import type { Pool } from 'pg';
import { createPgDecisionRecorder } from '../persistence/pg-ports';
import type { DecisionStatus } from '../persistence/schemas';
import type { BridgeRecorder } from './decision-recorder';

export function createPgBridgeRecorder(pool: Pool): BridgeRecorder {
  return {
    ...createPgDecisionRecorder(pool),
    async statusOf(decisionId: string) {
      const r = await pool.query<{ status: DecisionStatus }>('SELECT status FROM decisions WHERE decision_id = $1', [decisionId]);
      return r.rows[0]?.status;
    },
  };
}
