-- Decision intake safety (issue 16).
--
-- content_hash: sha-256 (hex) of the canonical decision (the parsed decision as JSON with its
-- keys sorted at every level). A second entry with a known decision id is a duplicate when its
-- hash is equal, a conflict (dead-lettered, alerted) when it differs. NULL on rows written before
-- this migration and on entries that never parsed; the bridge then hashes the stored payload.
ALTER TABLE decisions ADD COLUMN content_hash text CHECK (content_hash ~ '^[0-9a-f]{64}$');

-- refused_rule: the safety rule that refused the entry ('expired', 'future', 'conflict',
-- 'unauthenticated', 'halted', ...). A refused entry is dead-lettered and recorded with status
-- 'invalid' (it executed nothing, so a later valid decision may still take its id); NULL otherwise.
ALTER TABLE decisions ADD COLUMN refused_rule text CHECK (refused_rule ~ '^[a-z][a-z_]{0,31}$');
CREATE INDEX decisions_refused_idx ON decisions (refused_rule, received_at) WHERE refused_rule IS NOT NULL;

-- The kill switch (`trade-exec halt` / `resume`): one row. While `halted`, the bridge records every
-- new decision and refuses it (rule 'halted').
CREATE TABLE trading_halt (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  halted      boolean NOT NULL,
  reason      text,
  changed_by  text,
  changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO trading_halt (halted, reason, changed_by) VALUES (false, NULL, 'migration 004');

-- Every halt and resume, for audit.
CREATE TABLE trading_halt_log (
  id          bigserial PRIMARY KEY,
  halted      boolean NOT NULL,
  reason      text,
  changed_by  text,
  changed_at  timestamptz NOT NULL DEFAULT now()
);
