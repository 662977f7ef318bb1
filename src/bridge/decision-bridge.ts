/**
 * The bridge: every entry on `risk_decisions` becomes exactly one TradeExecution workflow.
 *
 * Guarantees, and how:
 * - nothing lost: an entry is acknowledged only after its workflow start (or its dead-lettering,
 *   or its recording as a rejection) succeeded; after a crash, unacknowledged entries are
 *   reclaimed with XAUTOCLAIM once they have been idle for `claimIdleMs`;
 * - nothing repeated: the workflow id is `trade-<decision_id>` with a reuse policy that refuses a
 *   second run even after the first finished, so a redelivered or duplicated decision is a no-op;
 * - one bad message never blocks the stream: it goes to `risk_decisions:dead` with its reason.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Logger } from '../logging';
import { describeZodError, RiskDecisionSchema, sideOf, workflowIdFor, type RiskDecision } from '../shared/decision';
import { SA } from '../shared/search-attributes';
import type { TradeInput } from '../shared/trade';
import type { DecisionRecorder } from './decision-recorder';
import { BridgeMetrics } from './metrics';

export const RISK_DECISIONS_STREAM = 'risk_decisions';
export const DEAD_LETTER_STREAM = 'risk_decisions:dead';
export const CONSUMER_GROUP = 'trading-execution';

export interface BridgeOptions {
  redis: Redis;
  temporal: Client;
  recorder: DecisionRecorder;
  logger: Logger;
  taskQueue: string;
  consumer: string;
  defaultOrderTimeoutMs: number;
  batchSize?: number;
  concurrency?: number;
  claimIdleMs?: number;
  blockMs?: number;
  stream?: string;
  deadLetterStream?: string;
  group?: string;
  metrics?: BridgeMetrics;
}

type StreamEntry = [id: string, fields: string[]];

export type EntryOutcome = 'started' | 'duplicate' | 'rejected' | 'dead';

export class DecisionBridge {
  private readonly stream: string;
  private readonly dead: string;
  private readonly group: string;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly claimIdleMs: number;
  private readonly blockMs: number;
  readonly metrics: BridgeMetrics;
  private stopping = false;
  private loop?: Promise<void>;
  /** A dedicated connection: XREADGROUP BLOCK would stall every other command on a shared one. */
  private readonly reader: Redis;

  constructor(private readonly o: BridgeOptions) {
    this.stream = o.stream ?? RISK_DECISIONS_STREAM;
    this.dead = o.deadLetterStream ?? DEAD_LETTER_STREAM;
    this.group = o.group ?? CONSUMER_GROUP;
    this.batchSize = o.batchSize ?? 100;
    this.concurrency = o.concurrency ?? 32;
    this.claimIdleMs = o.claimIdleMs ?? 60_000;
    this.blockMs = o.blockMs ?? 1000;
    this.metrics = o.metrics ?? new BridgeMetrics();
    this.reader = o.redis.duplicate();
  }

  async start(): Promise<void> {
    await ensureGroup(this.o.redis, this.stream, this.group);
    this.loop = this.run();
  }

  /** Stops reading; in-flight starts finish and are acknowledged before this resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.reader.disconnect();
  }

  private async run(): Promise<void> {
    let lastClaim = 0;
    let backoffMs = 500;
    while (!this.stopping) {
      try {
        // Our own pending entries first (a restart under the same consumer name), then entries
        // that other, dead consumers left idle, then new ones.
        if (Date.now() - lastClaim >= Math.min(this.claimIdleMs, 10_000)) {
          lastClaim = Date.now();
          await this.drainPending();
          await this.reclaimIdle();
        }
        const entries = await this.readNew();
        if (entries.length) await this.processBatch(entries);
        backoffMs = 500;
      } catch (err) {
        this.o.logger.error({ err: errorText(err), retryInMs: backoffMs }, 'bridge cycle failed; entries stay pending and will be retried');
        await delay(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 30_000);
        lastClaim = 0;
      }
    }
  }

  private async readNew(): Promise<StreamEntry[]> {
    const reply = (await this.reader.xreadgroup(
      'GROUP',
      this.group,
      this.o.consumer,
      'COUNT',
      this.batchSize,
      'BLOCK',
      this.blockMs,
      'STREAMS',
      this.stream,
      '>',
    )) as Array<[string, StreamEntry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async drainPending(): Promise<void> {
    for (;;) {
      const reply = (await this.o.redis.xreadgroup(
        'GROUP', this.group, this.o.consumer, 'COUNT', this.batchSize, 'STREAMS', this.stream, '0',
      )) as Array<[string, StreamEntry[]]> | null;
      // Entries deleted from the stream while pending come back with null fields.
      const entries = (reply?.[0]?.[1] ?? []).filter((e): e is StreamEntry => Array.isArray(e[1]));
      if (!entries.length || this.stopping) return;
      await this.processBatch(entries);
    }
  }

  private async reclaimIdle(): Promise<void> {
    let cursor = '0-0';
    do {
      const [next, claimed] = (await this.o.redis.xautoclaim(
        this.stream, this.group, this.o.consumer, this.claimIdleMs, cursor, 'COUNT', this.batchSize,
      )) as [string, StreamEntry[], ...unknown[]];
      const entries = claimed.filter((e): e is StreamEntry => Array.isArray(e[1]));
      if (entries.length) {
        this.o.logger.info({ count: entries.length }, 'reclaimed idle entries from another consumer');
        await this.processBatch(entries);
      }
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
  }

  /** Processes entries with bounded concurrency; each is acknowledged as soon as it is settled. */
  private async processBatch(entries: StreamEntry[]): Promise<void> {
    this.metrics.read.inc(entries.length);
    let next = 0;
    const failures: unknown[] = [];
    const worker = async () => {
      while (next < entries.length) {
        const entry = entries[next++]!;
        try {
          await this.handle(entry);
          await this.o.redis.xack(this.stream, this.group, entry[0]);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, entries.length) }, worker));
    if (failures.length) throw failures[0];
  }

  /** Settles one entry. Throws only when it must stay pending (e.g. Temporal unreachable). */
  async handle([entryId, fields]: StreamEntry): Promise<EntryOutcome> {
    const raw = fieldValue(fields, 'data');
    const parsed = parseDecision(raw);
    if (!parsed.ok) {
      await this.deadLetter(entryId, fields, parsed.reason);
      await this.o.recorder.recordInvalid({ decisionId: parsed.decisionId, reason: parsed.reason, raw, entryId });
      this.metrics.deadLettered.inc();
      this.o.logger.warn({ entryId, decisionId: parsed.decisionId, reason: parsed.reason }, 'invalid decision dead-lettered');
      return 'dead';
    }
    const decision = parsed.decision;
    if (decision.decision === 'reject') {
      await this.o.recorder.recordRejected(decision, entryId);
      this.metrics.rejected.inc();
      return 'rejected';
    }
    await this.o.recorder.recordReceived(decision, entryId);
    const outcome = await this.startWorkflow(decision, entryId);
    await this.o.recorder.recordStarted(decision.decision_id, workflowIdFor(decision.decision_id));
    return outcome;
  }

  private async startWorkflow(decision: RiskDecision, entryId: string): Promise<'started' | 'duplicate'> {
    const workflowId = workflowIdFor(decision.decision_id);
    const input: TradeInput = { decision, streamEntryId: entryId, defaultOrderTimeoutMs: this.o.defaultOrderTimeoutMs };
    const started = Date.now();
    try {
      await this.o.temporal.workflow.start('TradeExecution', {
        taskQueue: this.o.taskQueue,
        workflowId,
        args: [input],
        // A decision id executes once, ever: also after its first workflow has finished.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SA.symbol, value: decision.symbol },
          { key: SA.side, value: sideOf(decision.original_signal) ?? 'NONE' },
          { key: SA.orderType, value: decision.order_type },
          { key: SA.status, value: 'validating' },
          { key: SA.decisionId, value: decision.decision_id },
        ],
        memo: { summary: `${sideOf(decision.original_signal)} ${decision.approved_size} ${decision.symbol} ${decision.order_type}` },
      });
      this.metrics.started.inc();
      this.metrics.startLatency.observe((Date.now() - started) / 1000);
      this.o.logger.info({ decisionId: decision.decision_id, workflowId, entryId }, 'workflow started');
      return 'started';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        this.metrics.duplicates.inc();
        this.o.logger.info({ decisionId: decision.decision_id, workflowId, entryId }, 'duplicate decision: workflow already exists');
        return 'duplicate';
      }
      throw new Error(`starting ${workflowId} failed (Temporal unreachable or refusing): ${errorText(err)}`, { cause: err });
    }
  }

  private async deadLetter(entryId: string, fields: string[], reason: string): Promise<void> {
    // Field names and values are kept as received (possibly not UTF-8: ioredis hands us strings,
    // replacement characters included); the original entry id makes it traceable.
    const safeFields = fields.length % 2 === 0 ? fields : [...fields, ''];
    await this.o.redis.xadd(
      this.dead, 'MAXLEN', '~', '1000000', '*',
      ...safeFields,
      'dead_reason', reason,
      'dead_entry_id', entryId,
      'dead_at', new Date().toISOString(),
    );
  }
}

export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    // '0': a new group also takes decisions published before the first bridge ever ran.
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!errorText(err).includes('BUSYGROUP')) throw err;
  }
}

type ParseResult = { ok: true; decision: RiskDecision } | { ok: false; reason: string; decisionId?: string };

/** Parses an entry's `data` field; the reason names the field and the problem. */
export function parseDecision(raw: string | undefined): ParseResult {
  if (raw === undefined) return { ok: false, reason: 'data: field missing from the stream entry' };
  if (raw.length > 64 * 1024) return { ok: false, reason: `data: ${raw.length} bytes is larger than the 65536 allowed` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `data: not valid JSON (${errorText(err)})` };
  }
  const result = RiskDecisionSchema.safeParse(json);
  if (result.success) return { ok: true, decision: result.data };
  const id = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).decision_id : undefined;
  return {
    ok: false,
    reason: describeZodError(result.error),
    decisionId: typeof id === 'string' && id.length <= 128 ? id : undefined,
  };
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
