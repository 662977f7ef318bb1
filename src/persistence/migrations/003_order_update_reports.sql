-- Execution reports come in two kinds on `trade_executions`: one per order state transition
-- ('order_update', written in the same transaction as the transition's order_events row, so
-- the outbox holds exactly the transitions recorded) and one summary per trade ('trade').
ALTER TABLE execution_reports
  ADD COLUMN report_type text NOT NULL DEFAULT 'trade' CHECK (report_type IN ('trade', 'order_update'));
CREATE INDEX execution_reports_client_order_idx ON execution_reports (client_order_id) WHERE client_order_id IS NOT NULL;
