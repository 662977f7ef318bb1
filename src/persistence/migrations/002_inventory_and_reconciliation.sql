-- Inventory adjustments, reconciliation bookkeeping and the per-symbol reconciliation cursor.

-- Base-asset inventory changes that are not trades of this service. Binance Spot cannot short,
-- so the account may only ever sell what it holds; what it holds but the service did not buy
-- (holdings from before, deposits, the quote proceeds of other symbols) enters a position here.
--   external_inventory  inflow found by reconciliation (seed at start, confirmed surplus),
--                       valued at the mark price;
--   external_outflow    confirmed shortfall (withdrawal, fees paid in this asset), taking out
--                       its share of the cost basis at the average price;
--   sell_excess         the part of a SELL that exceeded the recorded position, valued at the
--                       fill price (derived from the fills: rewritten when a position is rebuilt).
-- applies_after_trade_id places an explicit adjustment in the symbol's fill sequence (after
-- that trade id, before the next one; NULL = before every fill), so a rebuild replays it at
-- the same point.
CREATE TABLE inventory_adjustments (
  id                      bigserial PRIMARY KEY,
  symbol                  text NOT NULL,
  base_asset              text NOT NULL,
  kind                    text NOT NULL CHECK (kind IN ('external_inventory', 'external_outflow', 'sell_excess')),
  qty                     numeric NOT NULL CHECK (qty <> 0),
  price                   numeric NOT NULL CHECK (price > 0),
  applies_after_trade_id  bigint,
  -- sell_excess: the SELL whose excess this is.
  trade_id                bigint,
  -- Explicit adjustments carry a caller-derived key, so a retried activity books them once.
  idempotency_key         text UNIQUE,
  reason                  text NOT NULL DEFAULT '',
  detail                  jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at              timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT inventory_adjustments_sign CHECK (
    (kind = 'external_outflow' AND qty < 0) OR (kind <> 'external_outflow' AND qty > 0)
  ),
  CONSTRAINT inventory_adjustments_sell_excess_trade CHECK ((kind = 'sell_excess') = (trade_id IS NOT NULL))
);
CREATE INDEX inventory_adjustments_symbol_idx ON inventory_adjustments (symbol, applies_after_trade_id, id);
CREATE UNIQUE INDEX inventory_adjustments_sell_excess_key ON inventory_adjustments (symbol, trade_id) WHERE kind = 'sell_excess';

-- Net base quantity of the position that came from adjustments (signed), and how many.
ALTER TABLE positions ADD COLUMN external_qty numeric NOT NULL DEFAULT 0;
ALTER TABLE positions ADD COLUMN adjustment_count integer NOT NULL DEFAULT 0 CHECK (adjustment_count >= 0);

-- Rows of one reconciliation pass share its run id (the workflow id).
ALTER TABLE reconciliation_runs ADD COLUMN run_id text;
CREATE INDEX reconciliation_runs_run_id_idx ON reconciliation_runs (run_id);
CREATE INDEX reconciliation_runs_kind_ran_at_idx ON reconciliation_runs (kind, ran_at);

-- Which symbols reconciliation looked at and when: the least recently checked go first, so a
-- run that stops at its request budget resumes where the last one stopped.
CREATE TABLE reconciliation_symbols (
  symbol           text PRIMARY KEY,
  last_checked_at  timestamptz,
  last_run_id      text,
  last_trade_id    bigint
);

-- One drift row per (run, kind, subject): a retried reconciliation activity records it once.
CREATE UNIQUE INDEX reconciliation_runs_subject_key ON reconciliation_runs (run_id, kind, (detail->>'subject'))
  WHERE run_id IS NOT NULL;
