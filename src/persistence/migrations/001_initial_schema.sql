-- Initial schema. Money, prices and quantities are `numeric` (exact, unbounded scale), never
-- float; exchange ids are bigint; every timestamp is timestamptz. CHECK constraints repeat
-- the invariants the TypeScript layer enforces, so a bug or a manual edit cannot store
-- a negative quantity or a made-up status.

-- One row per risk decision received, whatever became of it. `payload` is what arrived
-- (first insert wins); `status` only moves forward (enforced by the store).
CREATE TABLE decisions (
  decision_id    text PRIMARY KEY,
  workflow_id    text,
  -- NULL only for status 'invalid': a payload that failed validation may lack any of them.
  symbol         text,
  decision       text CHECK (decision IN ('approve', 'modify', 'reject')),
  side           text CHECK (side IN ('BUY', 'SELL')),
  approved_size  numeric CHECK (approved_size >= 0),
  order_type     text,
  status         text NOT NULL CHECK (status IN ('received', 'started', 'rejected', 'invalid', 'completed', 'failed')),
  reasons        jsonb NOT NULL DEFAULT '[]'::jsonb,
  payload        jsonb NOT NULL,
  -- Redis entry id the decision arrived as (audit; ties a row to the stream).
  stream_entry_id text,
  -- Why a started decision failed (set with status 'failed').
  error          text,
  received_at    timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT decisions_valid_fields CHECK (
    status = 'invalid' OR (symbol IS NOT NULL AND decision IS NOT NULL AND approved_size IS NOT NULL AND order_type IS NOT NULL)
  )
);
CREATE INDEX decisions_symbol_received_idx ON decisions (symbol, received_at);
CREATE INDEX decisions_status_idx ON decisions (status) WHERE status IN ('received', 'started');

-- One row per order we asked the exchange for, keyed by our client order id. No foreign key
-- to decisions: reconciliation may record orders found on the exchange without a decision.
CREATE TABLE orders (
  client_order_id        text PRIMARY KEY,
  decision_id            text,
  workflow_id            text,
  symbol                 text NOT NULL,
  side                   text NOT NULL CHECK (side IN ('BUY', 'SELL')),
  type                   text NOT NULL,
  time_in_force          text,
  -- 'entry', 'replacement', 'bracket', 'close', …: the set belongs to the workflow, so only
  -- the spelling is checked here.
  purpose                text NOT NULL CHECK (purpose ~ '^[a-z][a-z_]{0,31}$'),
  exchange_order_id      bigint,
  order_list_id          bigint,
  price                  numeric CHECK (price >= 0),
  stop_price             numeric CHECK (stop_price >= 0),
  orig_qty               numeric NOT NULL CHECK (orig_qty >= 0),
  executed_qty           numeric NOT NULL DEFAULT 0 CHECK (executed_qty >= 0),
  cummulative_quote_qty  numeric NOT NULL DEFAULT 0 CHECK (cummulative_quote_qty >= 0),
  -- Binance order status, plus two local ones: PENDING_SUBMIT (recorded before the request
  -- leaves, so a crash mid-request leaves a row for reconciliation to resolve) and
  -- NOT_PLACED (terminal: the order never reached the exchange, e.g. refused before sending).
  status                 text NOT NULL CHECK (status IN ('PENDING_SUBMIT', 'PENDING_NEW', 'NEW', 'PARTIALLY_FILLED',
                           'PENDING_CANCEL', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'EXPIRED_IN_MATCH',
                           'NOT_PLACED')),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_decision_idx ON orders (decision_id);
CREATE INDEX orders_symbol_exchange_id_idx ON orders (symbol, exchange_order_id);
CREATE INDEX orders_open_idx ON orders (symbol) WHERE status IN ('PENDING_SUBMIT', 'PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL');

-- Order state-machine transitions. (client_order_id, seq) is the idempotency key: a retried
-- activity re-inserting the same transition is a no-op. States are free text because the
-- state machine has local states (e.g. SUBMITTING) besides Binance's.
CREATE TABLE order_events (
  id               bigserial PRIMARY KEY,
  client_order_id  text NOT NULL,
  seq              integer NOT NULL CHECK (seq >= 0),
  from_state       text,
  to_state         text NOT NULL,
  reason           text,
  at               timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT order_events_client_order_id_seq_key UNIQUE (client_order_id, seq)
);

-- Exchange trades. Binance trade ids are unique per symbol, so (symbol, trade_id) is the key
-- that stops a retried activity from counting a fill twice.
CREATE TABLE fills (
  symbol                  text NOT NULL,
  trade_id                bigint NOT NULL,
  exchange_order_id       bigint NOT NULL,
  client_order_id         text,
  side                    text NOT NULL CHECK (side IN ('BUY', 'SELL')),
  price                   numeric NOT NULL CHECK (price > 0),
  qty                     numeric NOT NULL CHECK (qty > 0),
  quote_qty               numeric NOT NULL CHECK (quote_qty >= 0),
  commission              numeric NOT NULL CHECK (commission >= 0),
  commission_asset        text NOT NULL,
  -- The fee valued in the quote asset when the fill was applied; kept so a position can be
  -- rebuilt from fills alone (a BNB price at fill time cannot be looked up later).
  -- NULL: a third-asset commission that could not be valued (no price at the time).
  commission_quote_value  numeric CHECK (commission_quote_value >= 0),
  is_maker                boolean NOT NULL,
  trade_time              timestamptz NOT NULL,
  recorded_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX fills_client_order_id_idx ON fills (client_order_id);
CREATE INDEX fills_exchange_order_id_idx ON fills (symbol, exchange_order_id);

-- Positions derived from fills (average cost). quantity is signed (< 0 = short, margin-like
-- venues only). realized_pnl is net of fees; gross_loss is a magnitude (>= 0).
CREATE TABLE positions (
  symbol           text PRIMARY KEY,
  base_asset       text NOT NULL,
  quote_asset      text NOT NULL,
  quantity         numeric NOT NULL DEFAULT 0,
  avg_entry_price  numeric NOT NULL DEFAULT 0 CHECK (avg_entry_price >= 0),
  -- Entry cost of the open quantity; exact, so a closed round trip realizes exactly
  -- proceeds - cost (avg_entry_price is derived from it and rounded).
  cost_basis       numeric NOT NULL DEFAULT 0 CHECK (cost_basis >= 0),
  realized_pnl     numeric NOT NULL DEFAULT 0,
  fees_quote       numeric NOT NULL DEFAULT 0 CHECK (fees_quote >= 0),
  volume_quote     numeric NOT NULL DEFAULT 0 CHECK (volume_quote >= 0),
  trades           integer NOT NULL DEFAULT 0 CHECK (trades >= 0),   -- closing trades
  wins             integer NOT NULL DEFAULT 0 CHECK (wins >= 0),
  losses           integer NOT NULL DEFAULT 0 CHECK (losses >= 0),
  gross_win        numeric NOT NULL DEFAULT 0 CHECK (gross_win >= 0),
  gross_loss       numeric NOT NULL DEFAULT 0 CHECK (gross_loss >= 0),
  fill_count       integer NOT NULL DEFAULT 0 CHECK (fill_count >= 0),
  -- Fills whose third-asset commission had no price: their fee is missing from fees_quote.
  unvalued_fee_fills integer NOT NULL DEFAULT 0 CHECK (unvalued_fee_fills >= 0),
  -- Highest trade id applied; a fill arriving below it triggers a rebuild in trade-id order.
  last_trade_id    bigint,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT positions_assets_differ CHECK (base_asset <> quote_asset),
  CONSTRAINT positions_stats CHECK (wins + losses <= trades)
);

CREATE TABLE balances (
  asset       text PRIMARY KEY,
  free        numeric NOT NULL CHECK (free >= 0),
  locked      numeric NOT NULL CHECK (locked >= 0),
  updated_at  timestamptz NOT NULL
);

CREATE TABLE balance_snapshots (
  id        bigserial PRIMARY KEY,
  taken_at  timestamptz NOT NULL,
  asset     text NOT NULL,
  free      numeric NOT NULL CHECK (free >= 0),
  locked    numeric NOT NULL CHECK (locked >= 0)
);
CREATE INDEX balance_snapshots_asset_taken_at_idx ON balance_snapshots (asset, taken_at);

-- Outbox of execution reports: written in the activity that learns the outcome, published
-- to Redis afterwards; stream_id is set once publishing succeeded.
CREATE TABLE execution_reports (
  report_id        text PRIMARY KEY,
  decision_id      text NOT NULL,
  workflow_id      text,
  client_order_id  text,
  status           text NOT NULL,
  payload          jsonb NOT NULL,
  stream_id        text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  published_at     timestamptz
);
CREATE INDEX execution_reports_unpublished_idx ON execution_reports (created_at) WHERE stream_id IS NULL;
CREATE INDEX execution_reports_decision_idx ON execution_reports (decision_id);

-- Reconciliation results: one row per drift found (or per clean run), with what was done.
CREATE TABLE reconciliation_runs (
  id        bigserial PRIMARY KEY,
  ran_at    timestamptz NOT NULL DEFAULT now(),
  kind      text NOT NULL,
  detail    jsonb NOT NULL DEFAULT '{}'::jsonb,
  repaired  boolean NOT NULL DEFAULT false
);
CREATE INDEX reconciliation_runs_ran_at_idx ON reconciliation_runs (ran_at);
