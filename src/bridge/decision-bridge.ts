/**
 * The bridge: every decision on `risk_decisions` becomes exactly one TradeExecution workflow,
 * whatever instant the process is killed at.
 *
 * Reading. Consumer group `trading-execution`; every bridge instance has its own consumer name,
 * and any number of instances share the stream. One reader fetches entries (as Buffers, see
 * entry.ts) into a bounded queue: first this consumer's own pending entries (a restart under the
 * same name), then, every `claimIdleMs / 2`, entries other consumers left idle for
 * `claimIdleMs` (XAUTOCLAIM: they died), otherwise new entries (XREADGROUP >, BLOCK).
 * `concurrency` workers take entries from the queue in stream order.
 *
 * Settling one entry (each step idempotent, so any prefix may be repeated after a crash):
 *  - invalid (zod, JSON, UTF-8, size, depth, missing/duplicated `data`, text Postgres cannot
 *    store): copied to `risk_decisions:dead` with the reason and time and acknowledged,
 *    atomically and only while still ours (redis-scripts.ts), so it is dead-lettered once; then
 *    recorded in Postgres as 'invalid';
 *  - refused by a safety rule (intake-safety.ts: unauthenticated, expired, future, conflict,
 *    halted): dead-lettered the same way with `dead_rule`, recorded with `refused_rule`, counted
 *    (bridge_refused_decisions_total) and alerted (kind decision_refused). The signature is
 *    checked first, before anything is recorded under the id; age and the kill switch only once
 *    the id's row shows the decision was not started before (a redelivered started decision is a
 *    duplicate, however old); a known id with other content (content hash) is a conflict;
 *  - `reject`: recorded in Postgres ('rejected', with its reasons), acknowledged;
 *  - approve/modify: a 'received' row is written unless the id has a row already (whose status
 *    decides, below), the workflow `trade-<decision_id>` started with REJECT_DUPLICATE, the row
 *    moved to 'started', and only then the entry acknowledged.
 *
 * Never twice. A redelivered entry, a decision published twice, or a start retried after a
 * timeout that had in fact succeeded all end in WorkflowExecutionAlreadyStartedError (a
 * duplicate, fine). Temporal remembers a closed workflow only for the namespace's retention
 * (24 h on the dev server), so the `decisions` row is the second line of defence: a decision
 * whose row is 'started', 'completed' or 'failed' is never started again, and an approve whose
 * id was already rejected is not executed (dead-lettered as a conflict). The one gap: a crash
 * after the start and before the row became 'started' leaves it 'received'; should the same id
 * then come back after the retention and before the workflow recorded its outcome, it would be
 * started again.
 *
 * Never lost. Nothing is acknowledged before it is settled. When a dependency fails (Temporal
 * unreachable, Postgres or Redis down) the entries in hand stay unacknowledged and a shared
 * RetryGate backs off (exponentially, with jitter) and says what is wrong in one log line; no
 * later entry is started while it is closed, so the backlog drains in stream order once the
 * dependency is back (with `concurrency` starts in flight, neighbours may finish out of order).
 * While held, entries are kept fresh (idle reset) so other bridges do not take them over.
 * Failures are retried without end (a misconfiguration must stop the flow, not discard it),
 * except what is about one message: a Postgres refusal of its data (SQLSTATE 22/23) dead-letters
 * it at once, and the poison guard (settle()) dead-letters an entry that keeps failing while
 * others succeed; outages (unreachable, timeouts) never count towards that.
 *
 * Stopping (stop(), SIGTERM in main.ts): nothing new is read; what was read (at most
 * `batchSize` + `concurrency` entries) is settled and acknowledged, so a clean stop leaves
 * nothing pending. If a dependency is down, what is left is given up after `shutdownTimeoutMs`
 * and released (idle set high) so that another bridge takes it over at once.
 */
import { performance } from 'node:perf_hooks';
import { WORKFLOW_TYPE } from '../../workflows/definitions';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type Redis from 'ioredis';
import { AlertSink, type AlertSeverity } from '../alerts/alerts';
import { registerSecret, type Logger } from '../logging';
import type { DecisionStatus } from '../persistence/schemas';
import { sideOf, workflowIdFor, type RiskDecision } from '../shared/decision';
import { SA } from '../shared/search-attributes';
import type { TradeInput } from '../shared/trade';
import type { BridgeRecorder } from './decision-recorder';
import { MAX_DATA_BYTES, parseEntry, type ParsedEntry } from './entry';
import {
  checkAge,
  checkSignature,
  conflictRefusal,
  contentHashOf,
  haltedRefusal,
  type IntakeSafetyOptions,
  type Refusal,
  type RefusalRule,
} from './intake-safety';
import { BridgeMetrics, type Dependency } from './metrics';
import { BridgeScripts, MAX_SCRIPT_ARGS } from './redis-scripts';
import { RetryGate } from './retry-gate';

export { parseEntry } from './entry';

export const RISK_DECISIONS_STREAM = 'risk_decisions';
export const DEAD_LETTER_STREAM = 'risk_decisions:dead';
export const CONSUMER_GROUP = 'trading-execution';

/** Values longer than this are cut in the dead-letter copy (the field `dead_truncated` says so). */
export const MAX_DEAD_LETTER_VALUE_BYTES = 1024 * 1024;
const DEAD_LETTER_MAXLEN = 1_000_000;
/** "Released" entries get this idle time, so any XAUTOCLAIM takes them. */
const RELEASED_IDLE_MS = 365 * 24 * 3600 * 1000;

export interface BridgeOptions {
  redis: Redis;
  temporal: Client;
  recorder: BridgeRecorder;
  logger: Logger;
  taskQueue: string;
  /** Passed to each trade: the queue its order-sending activities run on (see TradeInput). */
  orderTaskQueue?: string;
  /**
   * Ask the server to hand the first workflow task straight back to a worker in this process
   * (the client must be on that worker's NativeConnection). Saves a task-queue round trip.
   */
  eagerStart?: boolean;
  /** This instance's consumer name; unique among running instances. */
  consumer: string;
  defaultOrderTimeoutMs: number;
  /** Entries per read and the most read ahead of the workers (default 100). */
  batchSize?: number;
  /** Entries processed at once: the bound on concurrent workflow starts (default 32). */
  concurrency?: number;
  /** Entries pending this long with another consumer are taken over (default 60 s). */
  claimIdleMs?: number;
  /** XREADGROUP BLOCK time; also the longest stop() waits for the reader (default 1 s). */
  blockMs?: number;
  /** Deadline of one workflow start call, its gRPC retries included (default 10 s). */
  startTimeoutMs?: number;
  /** How long stop() lets in-flight entries retry a failing dependency (default 15 s). */
  shutdownTimeoutMs?: number;
  /** Consumers idle this long with nothing pending are deleted from the group (default 1 h; 0: never). */
  pruneConsumersIdleMs?: number;
  /** Backoff of the retry gate (default 250 ms doubling to 15 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  stream?: string;
  deadLetterStream?: string;
  group?: string;
  workflowType?: string;
  metrics?: BridgeMetrics;
  /** Maximum age, clock skew and the signing key (intake-safety.ts); defaults: 60 s / 5 min / 5 s, unsigned. */
  safety?: IntakeSafetyOptions;
  /** Where refusals are alerted (default: an AlertSink on this bridge's Redis, stream `alerts`). */
  alerts?: AlertSink;
}

interface Entry {
  id: string;
  fields: Buffer[];
  /** Set once its workflow exists: from then on the entry must never be dead-lettered. */
  startOutcome?: 'started' | 'duplicate';
  /** Set once it is in the dead-letter stream and acknowledged: a retry only records it in Postgres. */
  deadLettered?: { reason: string; info: DeadLetterInfo };
  lastError?: DependencyError;
}

interface DeadLetterInfo {
  decisionId?: string;
  raw?: string;
  /** A safety rule refused a valid decision: recorded with its rule (recordRefused), not as malformed. */
  refused?: { rule: RefusalRule; decision: RiskDecision; takeOver: boolean };
}

/** Alert severity per refusal rule: a forged or conflicting decision pages someone. */
const REFUSAL_SEVERITY: Record<RefusalRule, AlertSeverity> = {
  unauthenticated: 'critical',
  conflict: 'critical',
  expired: 'warning',
  future: 'warning',
  halted: 'info',
};
/** One alert per rule per minute at most; it says how many were refused since the last one. */
const REFUSAL_ALERT_COOLDOWN_MS = 60_000;

/** Failed attempts of one entry, while others succeed, before the poison guard acts. */
const POISON_ATTEMPTS = 5;

export type EntryOutcome = 'started' | 'duplicate' | 'rejected' | 'dead' | 'not-ours' | 'abandoned';

export class DecisionBridge {
  readonly metrics: BridgeMetrics;
  private readonly stream: string;
  private readonly dead: string;
  private readonly group: string;
  private readonly consumer: string;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly claimIdleMs: number;
  private readonly blockMs: number;
  private readonly startTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly pruneIdleMs: number;
  private readonly workflowType: string;
  private readonly log: Logger;
  /** XREADGROUP BLOCK would stall every other command on a shared connection. */
  private readonly reader: Redis;
  /** Acks, scripts, claims: auto-pipelined, so concurrent acks share round trips. */
  private readonly cmd: Redis;
  private readonly scripts: BridgeScripts;
  private readonly gate: RetryGate;
  private readonly queue: Entry[] = [];
  /** Entries this instance holds (queued or in flight), by id. */
  private readonly held = new Set<string>();
  /** In-flight entries given up at the shutdown deadline. */
  private readonly abandoned: string[] = [];
  private readonly entryAvailable = new Signal();
  private readonly spaceAvailable = new Signal();
  private stopping = false;
  private successes = 0;
  private readerDone = false;
  private giveUp = false;
  private running?: Promise<void>;
  private stopped?: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  private connectionsLogged = new Set<string>();
  private readonly safety: IntakeSafetyOptions;
  private readonly alerts: AlertSink;
  /** Refusals per rule since the last alert raised for that rule. */
  private readonly refusedSinceAlert = new Map<RefusalRule, number>();

  constructor(private readonly o: BridgeOptions) {
    this.stream = o.stream ?? RISK_DECISIONS_STREAM;
    this.dead = o.deadLetterStream ?? DEAD_LETTER_STREAM;
    this.group = o.group ?? CONSUMER_GROUP;
    this.consumer = o.consumer;
    this.batchSize = o.batchSize ?? 100;
    this.concurrency = o.concurrency ?? 32;
    this.claimIdleMs = o.claimIdleMs ?? 60_000;
    this.blockMs = o.blockMs ?? 1000;
    this.startTimeoutMs = o.startTimeoutMs ?? 10_000;
    this.shutdownTimeoutMs = o.shutdownTimeoutMs ?? 15_000;
    this.pruneIdleMs = o.pruneConsumersIdleMs ?? 3_600_000;
    this.workflowType = o.workflowType ?? WORKFLOW_TYPE;
    this.metrics = o.metrics ?? new BridgeMetrics();
    this.log = o.logger.child({ consumer: this.consumer });
    this.gate = new RetryGate({ initialMs: o.retryInitialMs ?? 250, maxMs: o.retryMaxMs ?? 15_000 });
    this.reader = o.redis.duplicate({ connectionName: `bridge-read:${this.consumer}` });
    this.cmd = o.redis.duplicate({ enableAutoPipelining: true, connectionName: `bridge:${this.consumer}` });
    for (const [name, conn] of [['reader', this.reader], ['commands', this.cmd]] as const) {
      conn.on('error', (err: Error) => {
        // ioredis reconnects by itself; say it once per outage, not on every attempt.
        if (this.connectionsLogged.has(name)) return;
        this.connectionsLogged.add(name);
        this.log.error({ connection: name, err: err.message }, 'Redis connection failed; reconnecting');
      });
      conn.on('ready', () => this.connectionsLogged.delete(name));
    }
    this.scripts = new BridgeScripts(this.cmd);
    this.safety = o.safety ?? {};
    // A key given in code (not through the environment) is kept out of the logs too.
    registerSecret(this.safety.signingKey);
    this.alerts = o.alerts ?? new AlertSink({ redis: this.cmd, logger: this.log.child({ component: 'alerts' }) });
    this.metrics.watchLag(this.cmd, this.stream, this.group);
  }

  /** Creates the group if needed and starts reading; returns once the loop runs. */
  async start(): Promise<void> {
    if (this.running) throw new Error('bridge already started');
    await ensureGroup(this.cmd, this.stream, this.group);
    const workers = Array.from({ length: this.concurrency }, () => this.workLoop());
    const reader = this.readLoop();
    this.running = Promise.all([reader, ...workers]).then(() => undefined);
    const heartbeatMs = Math.max(100, Math.floor(this.claimIdleMs / 3));
    this.timers.push(setInterval(() => void this.keepHeldFresh(), heartbeatMs));
    if (this.pruneIdleMs > 0) this.timers.push(setInterval(() => void this.pruneConsumers(), Math.min(this.pruneIdleMs, 600_000)));
    for (const t of this.timers) t.unref();
    this.log.info(
      {
        stream: this.stream,
        group: this.group,
        batchSize: this.batchSize,
        concurrency: this.concurrency,
        claimIdleMs: this.claimIdleMs,
        maxAgeMs: this.safety.maxAgeMs,
        maxAgeRestingMs: this.safety.maxAgeRestingMs,
        clockSkewMs: this.safety.clockSkewMs,
        signedDecisionsOnly: this.safety.signingKey !== undefined,
      },
      'bridge started',
    );
  }

  /**
   * Stops reading; entries already read are settled and acknowledged (until `shutdownTimeoutMs`,
   * then released). Idempotent. Leaves the Redis connection and Temporal client it was given open.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.entryAvailable.notifyAll();
      this.spaceAvailable.notifyAll();
      const deadline = setTimeout(() => {
        this.giveUp = true;
        this.gate.interrupt();
        this.log.warn({ inFlight: this.held.size - this.queue.length }, 'shutdown deadline passed; unsettled entries are released for another bridge to take over');
      }, this.shutdownTimeoutMs);
      try {
        await this.running;
      } finally {
        clearTimeout(deadline);
        for (const t of this.timers) clearInterval(t);
      }
      await this.releaseQueued();
      this.reader.disconnect();
      await this.cmd.quit().catch(() => this.cmd.disconnect());
      this.log.info('bridge stopped');
    })();
    return this.stopped;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  private async readLoop(): Promise<void> {
    let ownCursor: string | undefined = '0-0'; // undefined once our own pending entries are drained
    let claimCursor = '0-0';
    let nextClaimAt = 0;
    let backoffMs = 250;
    while (!this.stopping) {
      try {
        const room = this.batchSize - this.queue.length;
        if (room <= 0) {
          await this.spaceAvailable.wait(this.blockMs);
          continue;
        }
        if (ownCursor !== undefined) {
          const page = await this.readOwnPending(ownCursor, room);
          if (page.entries.length) this.enqueue(page.entries, 'back');
          ownCursor = page.next;
        } else if (Date.now() >= nextClaimAt) {
          const claimed = await this.claimIdle(claimCursor, room);
          claimCursor = claimed.next;
          if (claimed.entries.length) this.enqueue(claimed.entries, 'front');
          // A full page may mean more to claim: go on at once; otherwise wait for the next round.
          if (claimCursor === '0-0') nextClaimAt = Date.now() + Math.max(250, Math.floor(this.claimIdleMs / 2));
        } else {
          const entries = await this.readNew(room);
          if (entries.length) this.enqueue(entries, 'back');
        }
        backoffMs = 250;
      } catch (err) {
        if (this.stopping) break;
        const message = errorText(err);
        if (message.includes('NOGROUP')) {
          // The stream or group was deleted under us (an operator, a test): recreate and go on.
          this.log.warn({ err: message }, 'consumer group missing; recreating it');
          await ensureGroup(this.cmd, this.stream, this.group).catch(() => undefined);
        } else {
          this.metrics.failures.inc({ dependency: 'redis' });
          this.log.error({ err: message, retryInMs: backoffMs }, `reading ${this.stream} from Redis failed; retrying`);
        }
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
    this.readerDone = true;
    this.entryAvailable.notifyAll();
  }

  private async readNew(count: number): Promise<Entry[]> {
    const reply = (await buffers(this.reader).xreadgroupBuffer(
      'GROUP', this.group, this.consumer, 'COUNT', String(count), 'BLOCK', String(this.blockMs), 'STREAMS', this.stream, '>',
    )) as Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;
    return this.toEntries(reply?.[0]?.[1] ?? []);
  }

  /** One page of this consumer's own pending entries after `cursor`; `next` undefined when done. */
  private async readOwnPending(cursor: string, count: number): Promise<{ entries: Entry[]; next: string | undefined }> {
    const reply = (await buffers(this.cmd).xreadgroupBuffer(
      'GROUP', this.group, this.consumer, 'COUNT', String(count), 'STREAMS', this.stream, cursor,
    )) as Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;
    const raw = reply?.[0]?.[1] ?? [];
    if (raw.length === 0) return { entries: [], next: undefined };
    const entries = await this.toEntries(raw);
    if (entries.length) this.log.info({ count: entries.length }, 'resuming entries this consumer had read but not acknowledged');
    return { entries, next: raw[raw.length - 1]![0].toString() };
  }

  private async claimIdle(cursor: string, count: number): Promise<{ entries: Entry[]; next: string }> {
    const reply = (await buffers(this.cmd).xautoclaimBuffer(
      this.stream, this.group, this.consumer, String(this.claimIdleMs), cursor, 'COUNT', String(count),
    )) as [Buffer, Array<[Buffer, Buffer[] | null]>, Buffer[]?];
    const deleted = reply[2] ?? [];
    if (deleted.length) {
      // Redis has already removed them from the pending list; there is nothing left to settle.
      this.metrics.deletedWhilePending.inc(deleted.length);
      this.log.warn({ ids: deleted.slice(0, 20).map(String), count: deleted.length }, 'pending entries were deleted from the stream before being settled');
    }
    const entries = (await this.toEntries(reply[1])).filter((e) => !this.held.has(e.id));
    if (entries.length) {
      this.metrics.reclaimed.inc(entries.length);
      this.log.info({ count: entries.length, first: entries[0]!.id }, 'took over entries another consumer left idle');
    }
    return { entries, next: reply[0].toString() };
  }

  /** Converts a reply; entries deleted while pending (null fields) are acknowledged and skipped. */
  private async toEntries(raw: Array<[Buffer, Buffer[] | null]>): Promise<Entry[]> {
    const out: Entry[] = [];
    const gone: string[] = [];
    for (const [id, fields] of raw) {
      if (Array.isArray(fields)) out.push({ id: id.toString(), fields });
      else gone.push(id.toString());
    }
    if (gone.length) {
      await this.cmd.xack(this.stream, this.group, ...gone);
      this.metrics.deletedWhilePending.inc(gone.length);
      this.log.warn({ ids: gone.slice(0, 20), count: gone.length }, 'pending entries were deleted from the stream before being settled');
    }
    return out;
  }

  private enqueue(entries: Entry[], where: 'front' | 'back'): void {
    const fresh = entries.filter((e) => !this.held.has(e.id));
    for (const e of fresh) this.held.add(e.id);
    // Reclaimed entries are older than anything queued: they go first.
    if (where === 'front') this.queue.unshift(...fresh);
    else this.queue.push(...fresh);
    this.metrics.read.inc(fresh.length);
    this.entryAvailable.notifyAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Working

  private async workLoop(): Promise<void> {
    for (;;) {
      const entry = this.queue.shift();
      if (!entry) {
        // Stopping: the reader has stopped, and what it had read is settled (or, past the
        // deadline, given up and released).
        if (this.stopping && this.readerDone) return;
        await this.entryAvailable.wait();
        continue;
      }
      this.spaceAvailable.notifyAll();
      this.metrics.inFlight.inc();
      try {
        await this.settle(entry);
      } catch (err) {
        // settle() handles every failure it knows; this is a bug. Leave the entry pending.
        this.log.error({ entryId: entry.id, err: errorText(err) }, 'unexpected error settling an entry; it stays pending');
      } finally {
        this.metrics.inFlight.dec();
        this.held.delete(entry.id);
      }
    }
  }

  /**
   * Settles one entry, retrying failing dependencies through the gate until it is done.
   *
   * Poison guard: a failure that keeps recurring for this entry while other entries succeed is
   * about this entry, not an outage (a payload the database or a library chokes on in a way not
   * foreseen). After POISON_ATTEMPTS such attempts the entry is dead-lettered with the error as
   * its reason, or, if its workflow was already started, acknowledged, so it cannot block the
   * stream. Only failures that can be about an entry count (DependencyError.mayBeTheEntry): an
   * unreachable or overloaded service never gets a decision dead-lettered, however it flaps.
   * (With no other traffic the two cannot be told apart, and the entry is retried on.)
   */
  private async settle(entry: Entry): Promise<EntryOutcome> {
    let parsed: ParsedEntry | undefined;
    let attempts = 0;
    let successesAtFirstFailure: number | undefined;
    for (;;) {
      await this.gate.wait();
      if (this.giveUp) {
        this.abandoned.push(entry.id);
        return 'abandoned';
      }
      try {
        parsed ??= safeParseEntry(entry.fields);
        const outcome = entry.deadLettered
          ? await this.deadLetter(entry, entry.deadLettered.reason, entry.deadLettered.info)
          : attempts >= POISON_ATTEMPTS && successesAtFirstFailure !== undefined && this.successes > successesAtFirstFailure
            ? await this.giveUpOnEntry(entry, attempts, parsed)
            : await this.process(entry, parsed);
        this.successes++;
        const outage = this.gate.succeed();
        if (outage !== undefined) {
          this.metrics.blocked.set(0);
          this.log.warn({ afterMs: outage }, 'dependencies reachable again; draining the backlog in stream order');
        }
        return outcome;
      } catch (caught) {
        const err = caught instanceof DependencyError ? caught : new DependencyError('bridge', `processing failed (${errorText(caught)})`, caught);
        if (err.mayBeTheEntry) {
          attempts++;
          successesAtFirstFailure ??= this.successes;
          entry.lastError = err;
        }
        this.metrics.failures.inc({ dependency: err.dependency });
        const g = this.gate.fail();
        this.metrics.blocked.set(1);
        if (g.closedNow) {
          this.log.error(
            {
              dependency: err.dependency,
              err: err.detail,
              entryId: entry.id,
              attempts,
              waiting: this.held.size,
              retryInMs: g.retryInMs,
              consecutiveFailures: g.failures,
            },
            `${err.message}; entries stay unacknowledged, retrying in ${g.retryInMs} ms`,
          );
        }
      }
    }
  }

  /** The poison guard's way out for an entry that fails where others succeed. */
  private async giveUpOnEntry(entry: Entry, attempts: number, parsed: ParsedEntry): Promise<EntryOutcome> {
    const err = entry.lastError;
    const what = err ? `${err.dependency}: ${err.detail}` : 'unknown error';
    if (entry.startOutcome) {
      this.log.error({ entryId: entry.id, attempts, err: what }, 'entry keeps failing after its workflow was started; acknowledging it');
      await this.ack(entry);
      return 'started';
    }
    return this.deadLetter(entry, `(entry): failed ${attempts} times while other entries succeeded, so it is this entry: ${what}`, {
      decisionId: parsed.ok ? parsed.decision.decision_id : parsed.decisionId,
      raw: parsed.raw,
    });
  }

  private async process(entry: Entry, parsed: ParsedEntry): Promise<EntryOutcome> {
    if (!parsed.ok) return this.deadLetter(entry, parsed.reason, { decisionId: parsed.decisionId, raw: parsed.raw });
    const d = parsed.decision;
    const id = d.decision_id;
    // A retry after the start went through (the row update or the ack failed) resumes there.
    if (entry.startOutcome) return this.afterStart(entry, d, entry.startOutcome);
    // Who sent it, before anything is recorded under its id: a forged entry must not claim an id.
    if (this.safety.signingKey) {
      const forged = checkSignature(entry.fields, this.safety.signingKey);
      if (forged) return this.refuse(entry, parsed, forged, false);
    }
    const hash = contentHashOf(d);
    // Judged now, acted on once the id's row tells whether this decision was started before
    // (a redelivered started decision is a duplicate, however old).
    const late = d.decision === 'reject' ? undefined : checkAge(d, Date.now(), this.safety);
    // One round trip: the row is written unless the id has one (or it is late, or trading is
    // halted); `before` is the row that was there, `halted` the kill switch.
    const claimed = await this.pg('recording the decision', () => this.o.recorder.claim(d, entry.id, { insert: late === undefined }));
    if (!claimed.ok) return this.deadLetter(entry, claimed.reason, { decisionId: id, raw: parsed.raw });
    const { before, halted } = claimed.value;

    // Same id, other content: never executed, never silently dropped.
    if (before && before.status !== 'invalid' && before.contentHash !== hash) {
      return this.refuse(entry, parsed, conflictRefusal(d, before, hash), false);
    }

    if (d.decision === 'reject') {
      if (before?.status === 'rejected') return this.duplicate(entry, d, 'postgres', 'rejection already recorded');
      await this.ack(entry);
      this.metrics.rejected.inc();
      this.log.info({ decisionId: id, entryId: entry.id, reasons: d.reasons }, 'rejection recorded; nothing to execute');
      return 'rejected';
    }

    switch (before?.status) {
      case 'started':
      case 'completed':
      case 'failed':
      case 'rejected': // same content as a reject cannot be an approve; kept for completeness
        return this.duplicate(entry, d, 'postgres', `decision already ${before.status}`);
      case 'invalid':
        // An earlier malformed message carried this id; it executed nothing, so this one may.
        this.log.warn({ decisionId: id, entryId: entry.id }, 'decision id was recorded as invalid before; executing this valid decision');
        break;
      case 'received': // seen before, perhaps started: the id reuse policy settles it
      case undefined:
        break;
    }
    const refusal = late ?? (halted ? haltedRefusal(halted) : undefined);
    if (refusal) {
      // 'received': an earlier attempt recorded it and may have started it (a start whose answer
      // was lost); a started decision is a duplicate, not a refusal.
      if (before?.status === 'received' && (await this.workflowExists(id))) {
        entry.startOutcome = 'duplicate';
        return this.afterStart(entry, d, 'duplicate');
      }
      return this.refuse(entry, parsed, refusal, before?.status === 'received');
    }
    entry.startOutcome = await this.startWorkflow(d, entry.id);
    return this.afterStart(entry, d, entry.startOutcome);
  }

  /**
   * A valid decision a safety rule refuses: dead-lettered with the rule (`dead_rule`) and its
   * reason, recorded in `decisions` with `refused_rule`, counted, and alerted (one alert per rule
   * per minute, counting the refusals since the previous one).
   */
  private async refuse(entry: Entry, parsed: Extract<ParsedEntry, { ok: true }>, refusal: Refusal, takeOver: boolean): Promise<EntryOutcome> {
    const d = parsed.decision;
    const outcome = await this.deadLetter(entry, refusal.reason, {
      decisionId: d.decision_id,
      raw: parsed.raw,
      refused: { rule: refusal.rule, decision: d, takeOver },
    });
    if (outcome !== 'dead') return outcome;
    this.metrics.refused.inc({ rule: refusal.rule });
    const count = (this.refusedSinceAlert.get(refusal.rule) ?? 0) + 1;
    this.refusedSinceAlert.set(refusal.rule, count);
    void this.alerts
      .raise({
        kind: 'decision_refused',
        severity: REFUSAL_SEVERITY[refusal.rule],
        message: `${count} decision${count === 1 ? '' : 's'} refused (${refusal.rule}) since the last such alert; latest: ${refusal.reason}`,
        detail: { rule: refusal.rule, count, decisionId: d.decision_id, entryId: entry.id, deadLetterStream: this.dead },
        dedupeKey: `decision_refused:${refusal.rule}`,
        cooldownMs: REFUSAL_ALERT_COOLDOWN_MS,
      })
      .then((r) => {
        if (r.raised) this.refusedSinceAlert.set(refusal.rule, (this.refusedSinceAlert.get(refusal.rule) ?? count) - count);
      });
    return outcome;
  }

  /** Whether `trade-<id>` exists in Temporal (within retention); Temporal being down is waited out. */
  private async workflowExists(decisionId: string): Promise<boolean> {
    try {
      await this.o.temporal.connection.withDeadline(Date.now() + this.startTimeoutMs, () =>
        this.o.temporal.workflow.getHandle(workflowIdFor(decisionId)).describe(),
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw new DependencyError('temporal', this.describeTemporalFailure(err).replace('cannot start workflows', 'cannot tell whether a workflow was started'), err);
    }
  }

  /** The workflow exists now: whatever happens here must not dead-letter the entry. */
  private async afterStart(entry: Entry, d: RiskDecision, outcome: 'started' | 'duplicate'): Promise<EntryOutcome> {
    const id = d.decision_id;
    const marked = await this.pg('marking the decision started', () => this.o.recorder.recordStarted(id, workflowIdFor(id)));
    if (!marked.ok) this.log.error({ decisionId: id, err: marked.reason }, 'could not mark the decision started; its workflow runs');
    await this.ack(entry);
    if (outcome === 'duplicate') return this.duplicate(entry, d, 'temporal', 'workflow already exists', false);
    return outcome;
  }

  private async startWorkflow(d: RiskDecision, entryId: string): Promise<'started' | 'duplicate'> {
    const workflowId = workflowIdFor(d.decision_id);
    const input: TradeInput = {
      decision: d,
      streamEntryId: entryId,
      defaultOrderTimeoutMs: this.o.defaultOrderTimeoutMs,
      ...(this.o.orderTaskQueue ? { orderTaskQueue: this.o.orderTaskQueue } : {}),
    };
    const side = sideOf(d.original_signal);
    const t0 = performance.now();
    try {
      await this.o.temporal.connection.withDeadline(Date.now() + this.startTimeoutMs, () =>
        this.o.temporal.workflow.start(this.workflowType, {
          taskQueue: this.o.taskQueue,
          workflowId,
          args: [input],
          ...(this.o.eagerStart ? { requestEagerStart: true } : {}),
          // A decision id executes once, ever: also after its first workflow has finished
          // (within the namespace's retention; the decisions row covers the time after).
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
          typedSearchAttributes: [
            { key: SA.symbol, value: d.symbol },
            { key: SA.side, value: side ?? 'NONE' },
            { key: SA.orderType, value: d.order_type },
            { key: SA.status, value: 'validating' },
            { key: SA.decisionId, value: d.decision_id },
          ],
          memo: { summary: `${side} ${d.approved_size} ${d.symbol} ${d.order_type}` },
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
      throw new DependencyError('temporal', this.describeTemporalFailure(err), err);
    }
    this.metrics.startLatency.observe((performance.now() - t0) / 1000);
    this.metrics.started.inc();
    this.log.info({ decisionId: d.decision_id, workflowId, entryId }, 'workflow started');
    return 'started';
  }

  private async duplicate(entry: Entry, d: RiskDecision, by: 'temporal' | 'postgres', why: string, ack = true): Promise<EntryOutcome> {
    if (ack) await this.ack(entry);
    this.metrics.duplicates.inc({ detected_by: by });
    this.log.info({ decisionId: d.decision_id, entryId: entry.id, detectedBy: by }, `duplicate decision not started again: ${why}`);
    return 'duplicate';
  }

  /**
   * Moves the entry to the dead-letter stream and acknowledges it (one atomic script, only while
   * the entry is ours), then records it in Postgres as 'invalid'. The dead-letter stream is the
   * record that matters (operators watch and replay it); the row serves audit queries. Postgres
   * being down is waited out (the retry resumes after the dead-lettering, see `deadLettered`); a
   * payload Postgres refuses is recorded without it. Should the process die between the two, the
   * entry is dead-lettered but has no row.
   */
  private async deadLetter(entry: Entry, reason: string, info: DeadLetterInfo): Promise<EntryOutcome> {
    if (!entry.deadLettered) {
      const moved = await this.redis('dead-lettering', () =>
        this.scripts.deadLetterAndAck({
          stream: this.stream,
          dead: this.dead,
          group: this.group,
          consumer: this.consumer,
          entryId: entry.id,
          maxLen: DEAD_LETTER_MAXLEN,
          fields: this.deadLetterFields(entry, reason, info.refused?.rule),
        }),
      );
      if (!moved) {
        this.log.info({ entryId: entry.id }, 'entry was taken over by another consumer before it was dead-lettered; leaving it to them');
        return 'not-ours';
      }
      entry.deadLettered = { reason, info };
      this.metrics.deadLettered.inc();
      this.log.warn({ entryId: entry.id, decisionId: info.decisionId, reason, ...(info.refused ? { rule: info.refused.rule } : {}) }, 'entry dead-lettered');
    }
    const raw = info.raw !== undefined && Buffer.byteLength(info.raw) <= MAX_DATA_BYTES ? info.raw : undefined;
    const record = async (withRaw: string | undefined): Promise<unknown> => {
      try {
        if (info.refused) {
          const { rule, decision, takeOver } = info.refused;
          await this.o.recorder.recordRefused({ decision, rule, reason, entryId: entry.id, takeOver });
        } else {
          await this.o.recorder.recordInvalid({ decisionId: info.decisionId, reason, raw: withRaw, entryId: entry.id });
        }
        return undefined;
      } catch (err) {
        if (isPgUnavailable(err)) throw new DependencyError('postgres', `cannot record decisions: Postgres failed recording an invalid entry (${errorText(err)})`, err);
        return err;
      }
    };
    let refused = await record(raw);
    if (refused !== undefined && raw !== undefined) refused = await record(undefined);
    if (refused !== undefined) {
      this.log.warn({ entryId: entry.id, err: errorText(refused) }, 'dead-lettered entry could not be recorded in Postgres');
    }
    return 'dead';
  }

  /** Our fields first (readers take the first `dead_reason`), then the original ones as received. */
  private deadLetterFields(entry: Entry, reason: string, rule?: RefusalRule): Array<string | Buffer> {
    const meta: Array<string | Buffer> = [
      'dead_reason', reason,
      ...(rule ? ['dead_rule', rule] : []),
      'dead_entry_id', entry.id,
      'dead_at', new Date().toISOString(),
      'dead_stream', this.stream,
      'dead_consumer', this.consumer,
    ];
    const notes: string[] = [];
    let original = entry.fields;
    const room = MAX_SCRIPT_ARGS - meta.length - 10;
    if (original.length > room) {
      notes.push(`only the first ${room / 2} of ${Math.floor(original.length / 2)} fields kept`);
      original = original.slice(0, room);
    }
    if (original.length % 2 !== 0) original = [...original, Buffer.alloc(0)];
    original = original.map((b, i) => {
      if (b.length <= MAX_DEAD_LETTER_VALUE_BYTES) return b;
      notes.push(`${i % 2 === 0 ? 'field name' : 'value'} #${Math.floor(i / 2)} cut from ${b.length} to ${MAX_DEAD_LETTER_VALUE_BYTES} bytes`);
      return b.subarray(0, MAX_DEAD_LETTER_VALUE_BYTES);
    });
    if (notes.length) meta.push('dead_truncated', notes.join('; '));
    return [...meta, ...original];
  }

  private async ack(entry: Entry): Promise<void> {
    // 0 acknowledged means another consumer took the entry over and acknowledged it: also done.
    await this.redis('acknowledging', () => this.cmd.xack(this.stream, this.group, entry.id));
  }

  /** Runs a Postgres step; a per-message refusal (data or constraint error) comes back as a reason. */
  private async pg<T>(what: string, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      if (isPermanentPgError(err)) return { ok: false, reason: `postgres refused ${what}: ${errorText(err)}` };
      throw new DependencyError('postgres', `cannot record decisions: Postgres failed ${what} (${errorText(err)})`, err);
    }
  }

  private async redis<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new DependencyError('redis', `Redis failed ${what} (${errorText(err)})`, err);
    }
  }

  private describeTemporalFailure(err: unknown): string {
    const address = (this.o.temporal.connection as { options?: { address?: string } }).options?.address ?? 'the configured address';
    const cause = (err as { cause?: { code?: unknown; details?: unknown } }).cause;
    const code = typeof cause?.code === 'number' ? cause.code : undefined;
    const detail = typeof cause?.details === 'string' && cause.details ? cause.details : errorText(err);
    const name = code === undefined ? undefined : GRPC_CODES[code];
    if (code === 14 || code === 4 || (code === undefined && /unavailable|deadline|ECONNREFUSED|connect/i.test(detail))) {
      return `cannot start workflows: Temporal at ${address} is unreachable (${name ?? 'no answer'}: ${detail})`;
    }
    return `cannot start workflows: Temporal at ${address} refused the start (${name ?? 'error'}: ${detail})`;
  }

  // ---------------------------------------------------------------------------------------------
  // Housekeeping

  /** Resets the idle time of held entries so that no other bridge takes them over meanwhile. */
  private async keepHeldFresh(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      await this.scripts.setIdle({ stream: this.stream, group: this.group, consumer: this.consumer, idleMs: 0, ids: [...this.held] });
    } catch (err) {
      this.log.debug({ err: errorText(err) }, 'could not refresh held entries');
    }
  }

  /** Entries read but never begun (or given up): hand them to whichever bridge claims next. */
  private async releaseQueued(): Promise<void> {
    const ids = [...this.abandoned.splice(0), ...this.queue.splice(0).map((e) => e.id)];
    for (const id of ids) this.held.delete(id);
    if (ids.length === 0) return;
    try {
      const n = await this.scripts.setIdle({ stream: this.stream, group: this.group, consumer: this.consumer, idleMs: RELEASED_IDLE_MS, ids });
      this.log.info({ count: n }, 'released entries not settled; another bridge takes them over at once');
    } catch (err) {
      this.log.warn({ err: errorText(err), count: ids.length }, `could not release read-ahead entries; they are reclaimed after ${this.claimIdleMs} ms`);
    }
  }

  private async pruneConsumers(): Promise<void> {
    try {
      const removed = await this.scripts.pruneConsumers({ stream: this.stream, group: this.group, minIdleMs: this.pruneIdleMs, keep: this.consumer });
      if (removed.length) this.log.info({ removed }, 'deleted idle consumers that had nothing pending');
    } catch (err) {
      this.log.debug({ err: errorText(err) }, 'pruning idle consumers failed');
    }
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

class DependencyError extends Error {
  /**
   * Whether this failure may be about the entry rather than the service, so that the poison
   * guard may count it. Never for outages (unreachable, timeouts, overload, Redis): a flapping
   * dependency must not get a valid decision dead-lettered.
   */
  readonly mayBeTheEntry: boolean;

  constructor(
    readonly dependency: Dependency,
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
    this.mayBeTheEntry = mayBeAboutTheEntry(dependency, cause);
  }

  get detail(): string {
    return errorText(this.cause);
  }
}

function mayBeAboutTheEntry(dependency: Dependency, cause: unknown): boolean {
  switch (dependency) {
    case 'redis':
      return false;
    case 'postgres':
      return !isPgUnavailable(cause);
    case 'temporal': {
      const code = (cause as { cause?: { code?: unknown } }).cause?.code;
      // INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, or no gRPC code (client side).
      return code === undefined ? !/unavailable|deadline|connect|timeout/i.test(errorText(cause)) : [3, 5, 9, 11, 12].includes(Number(code));
    }
    case 'bridge':
      return true;
  }
}

/**
 * A refusal of this message rather than of the database: SQLSTATE class 22 (data exception) or
 * 23 (constraint violation), a schema refusal, or a RangeError (stack or size limits hit by the
 * payload). Such a step is not retried: the entry is dead-lettered with the error as its reason.
 */
function isPermanentPgError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code)) return true;
  const name = (err as { name?: unknown }).name;
  return name === 'ZodError' || err instanceof RangeError;
}

/** Postgres cannot be reached or is not accepting work now: wait, do not give up on the entry. */
function isPgUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|53|57)[0-9A-Z]{3}$/.test(code)) return true; // connection exception, insufficient resources, operator intervention
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...
  }
  return /connection|terminat|timeout|not queryable|ECONN/i.test(errorText(err));
}

const GRPC_CODES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 10: 'ABORTED', 11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
};

/** parseEntry never throws by design; should it anyway, the entry is invalid, not the bridge broken. */
function safeParseEntry(fields: Buffer[]): ParsedEntry {
  try {
    return parseEntry(fields);
  } catch (err) {
    return { ok: false, reason: `(entry): could not be parsed (${errorText(err)})` };
  }
}

/**
 * ioredis has Buffer-returning variants of every command at runtime, but does not type these two.
 * (`callBuffer` would do, but loses the command name under enableAutoPipelining.)
 */
interface BufferStreamCommands {
  xreadgroupBuffer(...args: string[]): Promise<unknown>;
  xautoclaimBuffer(...args: string[]): Promise<unknown>;
}

function buffers(redis: Redis): BufferStreamCommands {
  return redis as unknown as BufferStreamCommands;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wake-ups between the reader and the workers. */
class Signal {
  private waiters: Array<() => void> = [];

  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  notifyAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export type { DecisionStatus };
