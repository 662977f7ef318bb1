/**
 * Bridge metrics (prom-client), on their own registry (`metrics.registry`; serve it with
 * startMetricsServer from ../metrics/server).
 *
 * Counters are updated as entries settle. The lag gauges (stream length, pending entries, group
 * lag) are sampled from Redis when the registry is scraped, once `watchLag()` has been called.
 */
import type Redis from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What failed: a service, or ('bridge') the bridge's own processing of an entry. */
export type Dependency = 'temporal' | 'postgres' | 'redis' | 'bridge';

export interface LagSample {
  /** XLEN of the decisions stream. */
  streamLength: number;
  /** Entries delivered to the group but not acknowledged (all consumers). */
  pending: number;
  /** Entries not yet delivered to the group (XINFO GROUPS `lag`; null when Redis cannot tell). */
  lag: number | null;
  consumers: number;
}

export class BridgeMetrics {
  readonly registry: Registry;
  readonly read: Counter;
  readonly reclaimed: Counter;
  readonly started: Counter;
  readonly duplicates: Counter<'detected_by'>;
  readonly rejected: Counter;
  readonly deadLettered: Counter;
  readonly refused: Counter<'rule'>;
  readonly deletedWhilePending: Counter;
  readonly failures: Counter<'dependency'>;
  readonly startLatency: Histogram;
  readonly inFlight: Gauge;
  readonly blocked: Gauge;
  readonly streamLength: Gauge;
  readonly pending: Gauge;
  readonly lag: Gauge;
  private lagSource?: { redis: Redis; stream: string; group: string };
  private sampling?: Promise<void>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.read = new Counter({ name: 'bridge_decisions_read_total', help: 'Stream entries taken for processing (new, own pending and reclaimed)', registers });
    this.reclaimed = new Counter({ name: 'bridge_reclaimed_total', help: 'Entries taken over from consumers that left them idle (XAUTOCLAIM)', registers });
    this.started = new Counter({ name: 'bridge_workflows_started_total', help: 'TradeExecution workflows started', registers });
    this.duplicates = new Counter({
      name: 'bridge_duplicate_decisions_total',
      help: 'Decisions not started because they had been already (detected_by: temporal id reuse policy, or the postgres decisions row); includes a start retried after a timeout whose first attempt had in fact succeeded',
      labelNames: ['detected_by'],
      registers,
    });
    this.rejected = new Counter({ name: 'bridge_rejected_decisions_total', help: 'Risk rejections recorded without execution', registers });
    this.deadLettered = new Counter({ name: 'bridge_dead_lettered_total', help: 'Entries moved to the dead-letter stream', registers });
    this.refused = new Counter({
      name: 'bridge_refused_decisions_total',
      help: 'Decisions a safety rule refused (dead-lettered, never executed), by rule: unauthenticated, expired, future, conflict, halted',
      labelNames: ['rule'],
      registers,
    });
    this.deletedWhilePending = new Counter({
      name: 'bridge_deleted_while_pending_total',
      help: 'Pending entries found deleted from the stream (XDEL/trim) before they were processed',
      registers,
    });
    this.failures = new Counter({
      name: 'bridge_dependency_failures_total',
      help: 'Failed attempts, by the dependency that failed; the entry stays unacknowledged and is retried',
      labelNames: ['dependency'],
      registers,
    });
    this.startLatency = new Histogram({
      name: 'bridge_workflow_start_seconds',
      help: 'Latency of one successful workflow start call',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.inFlight = new Gauge({ name: 'bridge_in_flight', help: 'Entries being processed now', registers });
    this.blocked = new Gauge({ name: 'bridge_blocked', help: '1 while a dependency is failing and the bridge is backing off', registers });
    const sampled = (name: string, help: string) =>
      new Gauge({
        name,
        help,
        registers,
        collect: async () => {
          await this.sampleLag();
        },
      });
    this.streamLength = sampled('bridge_stream_length', 'Entries in the decisions stream');
    this.pending = sampled('bridge_pending_entries', 'Entries delivered to the consumer group but not acknowledged');
    this.lag = sampled('bridge_group_lag', 'Entries in the stream not yet delivered to the consumer group');
  }

  /** Sample the lag gauges from this stream and group on every scrape. */
  watchLag(redis: Redis, stream: string, group: string): void {
    this.lagSource = { redis, stream, group };
  }

  /** One sample for all three gauges, shared by concurrent collects of one scrape. */
  private sampleLag(): Promise<void> {
    const src = this.lagSource;
    if (!src) return Promise.resolve();
    this.sampling ??= readLag(src.redis, src.stream, src.group)
      .then((s) => {
        this.streamLength.set(s.streamLength);
        this.pending.set(s.pending);
        if (s.lag !== null) this.lag.set(s.lag);
      })
      .catch(() => undefined) // a scrape must not fail because Redis is away; the gauges keep their last value
      .finally(() => setTimeout(() => (this.sampling = undefined), 50).unref());
    return this.sampling;
  }
}

/** Stream length, pending count and group lag, in one round trip. */
export async function readLag(redis: Redis, stream: string, group: string): Promise<LagSample> {
  const [len, groups] = (await redis.multi().xlen(stream).xinfo('GROUPS', stream).exec())!.map(([err, v]) => {
    if (err) throw err;
    return v;
  }) as [number, unknown[][]];
  for (const g of groups) {
    const info = pairs(g);
    if (info.name !== group) continue;
    return {
      streamLength: len,
      pending: Number(info.pending ?? 0),
      lag: info.lag === null || info.lag === undefined ? null : Number(info.lag),
      consumers: Number(info.consumers ?? 0),
    };
  }
  return { streamLength: len, pending: 0, lag: len, consumers: 0 };
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}
