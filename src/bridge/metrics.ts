/** Bridge metrics (prom-client). Lag gauges are sampled on scrape from Redis by the caller. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class BridgeMetrics {
  readonly registry: Registry;
  readonly read: Counter;
  readonly started: Counter;
  readonly duplicates: Counter;
  readonly rejected: Counter;
  readonly deadLettered: Counter;
  readonly startLatency: Histogram;
  readonly streamLength: Gauge;
  readonly pending: Gauge;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const opts = { registers: [registry] };
    this.read = new Counter({ name: 'bridge_decisions_read_total', help: 'Stream entries read (new and reclaimed)', ...opts });
    this.started = new Counter({ name: 'bridge_workflows_started_total', help: 'TradeExecution workflows started', ...opts });
    this.duplicates = new Counter({ name: 'bridge_duplicate_decisions_total', help: 'Decisions whose workflow already existed', ...opts });
    this.rejected = new Counter({ name: 'bridge_rejected_decisions_total', help: 'Risk rejections recorded without execution', ...opts });
    this.deadLettered = new Counter({ name: 'bridge_dead_lettered_total', help: 'Invalid entries moved to the dead-letter stream', ...opts });
    this.startLatency = new Histogram({
      name: 'bridge_workflow_start_seconds',
      help: 'Latency of one workflow start call',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ...opts,
    });
    this.streamLength = new Gauge({ name: 'bridge_stream_length', help: 'Entries in risk_decisions', ...opts });
    this.pending = new Gauge({ name: 'bridge_pending_entries', help: 'Delivered but unacknowledged entries', ...opts });
  }
}
