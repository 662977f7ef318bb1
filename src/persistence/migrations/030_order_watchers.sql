-- Which worker follows an order's user-data-stream events (src/worker/order-update-router.ts).
-- Every worker keeps one stream per account and so sees every order's events, but only the
-- order's watcher signals its workflow: one signal per event, however many workers run.
--
-- A worker claims an order when its workflow's coverage check runs there (the workflow lives on
-- that worker), and keeps a lease alive in order_watchers. An order whose watcher's lease has
-- lapsed (the worker died) is adopted by another worker, which re-reads it by openOrders once.
CREATE TABLE IF NOT EXISTS order_watchers (
  watcher_id  text PRIMARY KEY,
  seen_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE orders ADD COLUMN IF NOT EXISTS watcher_id text;

-- The adoption scan reads open orders only; partial, so the index stays the size of what rests.
CREATE INDEX IF NOT EXISTS orders_open_watcher_idx ON orders (watcher_id)
  WHERE status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL');
