-- Orders recorded before order_sends existed may have been sent: a reset of such a workflow to
-- before its submission must settle them too, so each gets a row whose window has long passed.
-- (Its own migration: 010 was applied as it was, and an applied file must never change.)
-- Order lists are logged under the list's client id, which `orders` does not keep: an OCO sent
-- before the log is not covered here.
INSERT INTO order_sends (intent_id, acceptable_until, first_sent_at, last_sent_at)
SELECT client_order_id, updated_at + interval '1 minute', created_at, updated_at FROM orders
ON CONFLICT (intent_id) DO NOTHING;
