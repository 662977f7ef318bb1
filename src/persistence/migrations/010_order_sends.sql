-- Every request that may place an order (a new order, an order list) is logged here BEFORE it
-- is sent, with the local-clock instant after which the exchange can no longer accept it
-- (the request's recvWindow, measured from the latest moment the sender allows itself to send).
-- A submission that finds a row for its intent knows that an earlier attempt, an earlier run, or
-- a run since reset may have placed it, and settles by asking the exchange before it sends.
CREATE TABLE order_sends (
  intent_id         text PRIMARY KEY,      -- client order id, or the list's client id
  sends             integer NOT NULL DEFAULT 1 CHECK (sends >= 1),
  acceptable_until  timestamptz NOT NULL,  -- max over all sends
  first_sent_at     timestamptz NOT NULL DEFAULT now(),
  last_sent_at      timestamptz NOT NULL DEFAULT now()
);
