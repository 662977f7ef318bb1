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
import { WORKFLOW_TYPE } from '../../workflows/definitions';
import type Redis from 'ioredis';
import { AlertSink } from '../alerts/alerts';
import { registerSecret, type Logger } from '../logging';
import { workflowIdFor, type RiskDecision } from '../shared/decision';
import { CONSUMER_GROUP, DEAD_LETTER_STREAM, RISK_DECISIONS_STREAM } from '../shared/streams';
import type { BridgeOptions } from './bridge-options';
import { DeadLetterer } from './dead-letter';
import { DependencyError, errorText, pgStep, redisStep } from './dependency-error';
import { parseEntry, type ParsedEntry } from './entry';
import { Housekeeping } from './housekeeping';
import { checkAge, checkSignature, conflictRefusal, contentHashOf, haltedRefusal, type IntakeSafetyOptions, type Refusal } from './intake-safety';
import { BridgeMetrics } from './metrics';
import { ReadAhead, type DeadLetterInfo, type Entry, type EntryOutcome } from './read-ahead';
import { BridgeScripts } from './redis-scripts';
import { RefusalAlerts } from './refusal-alerts';
import { RetryGate } from './retry-gate';
import { ensureGroup, StreamReader, type StreamPosition } from './stream-reader';
import { WorkflowStarter } from './workflow-starter';

/** Failed attempts of one entry, while others succeed, before the poison guard acts. */
const POISON_ATTEMPTS = 5;

export class DecisionBridge {
  readonly metrics: BridgeMetrics;
  private readonly position: StreamPosition;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly claimIdleMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly log: Logger;
  /** XREADGROUP BLOCK would stall every other command on a shared connection. */
  private readonly reader: Redis;
  /** Acks, scripts, claims: auto-pipelined, so concurrent acks share round trips. */
  private readonly cmd: Redis;
  private readonly gate: RetryGate;
  private readonly readAhead = new ReadAhead();
  private readonly streamReader: StreamReader;
  private readonly housekeeping: Housekeeping;
  private readonly deadLetters: DeadLetterer;
  private readonly workflows: WorkflowStarter;
  private readonly refusalAlerts: RefusalAlerts;
  private stopping = false;
  private successes = 0;
  private readerDone = false;
  private giveUp = false;
  private running?: Promise<void>;
  private stopped?: Promise<void>;
  private connectionsLogged = new Set<string>();
  private readonly safety: IntakeSafetyOptions;

  constructor(private readonly options: BridgeOptions) {
    const stream = options.stream ?? RISK_DECISIONS_STREAM;
    const dead = options.deadLetterStream ?? DEAD_LETTER_STREAM;
    const group = options.group ?? CONSUMER_GROUP;
    const consumer = options.consumer;
    this.position = { stream, group, consumer };
    this.claimIdleMs = options.claimIdleMs ?? 60_000;
    this.batchSize = options.batchSize ?? 100;
    this.concurrency = options.concurrency ?? 32;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 15_000;
    this.metrics = options.metrics ?? new BridgeMetrics();
    this.log = options.logger.child({ consumer });
    this.gate = new RetryGate({ initialMs: options.retryInitialMs ?? 250, maxMs: options.retryMaxMs ?? 15_000 });
    this.reader = options.redis.duplicate({ connectionName: `bridge-read:${consumer}` });
    this.cmd = options.redis.duplicate({ enableAutoPipelining: true, connectionName: `bridge:${consumer}` });
    for (const [name, conn] of [['reader', this.reader], ['commands', this.cmd]] as const) {
      conn.on('error', (err: Error) => {
        // ioredis reconnects by itself; say it once per outage, not on every attempt.
        if (this.connectionsLogged.has(name)) return;
        this.connectionsLogged.add(name);
        this.log.error({ connection: name, err: err.message }, 'Redis connection failed; reconnecting');
      });
      conn.on('ready', () => this.connectionsLogged.delete(name));
    }
    const scripts = new BridgeScripts(this.cmd);
    this.safety = options.safety ?? {};
    // A key given in code (not through the environment) is kept out of the logs too.
    registerSecret(this.safety.signingKey);
    const alerts = options.alerts ?? new AlertSink({ redis: this.cmd, logger: this.log.child({ component: 'alerts' }) });
    this.refusalAlerts = new RefusalAlerts(alerts, dead);
    this.metrics.watchLag(this.cmd, stream, group);
    const shared = { ...this.position, metrics: this.metrics, log: this.log, readAhead: this.readAhead };
    this.streamReader = new StreamReader({
      ...shared,
      reader: this.reader,
      cmd: this.cmd,
      batchSize: this.batchSize,
      blockMs: options.blockMs ?? 1000,
      claimIdleMs: this.claimIdleMs,
    });
    this.housekeeping = new Housekeeping({ ...shared, scripts, claimIdleMs: this.claimIdleMs, pruneIdleMs: options.pruneConsumersIdleMs ?? 3_600_000 });
    this.deadLetters = new DeadLetterer({ ...shared, dead, scripts, recorder: options.recorder });
    this.workflows = new WorkflowStarter({
      temporal: options.temporal,
      taskQueue: options.taskQueue,
      workflowType: options.workflowType ?? WORKFLOW_TYPE,
      orderTaskQueue: options.orderTaskQueue,
      eagerStart: options.eagerStart,
      defaultOrderTimeoutMs: options.defaultOrderTimeoutMs,
      startTimeoutMs: options.startTimeoutMs ?? 10_000,
      metrics: this.metrics,
      log: this.log,
    });
  }

  /** Creates the group if needed and starts reading; returns once the loop runs. */
  async start(): Promise<void> {
    if (this.running) throw new Error('bridge already started');
    const { stream, group } = this.position;
    await ensureGroup(this.cmd, stream, group);
    const workers = Array.from({ length: this.concurrency }, () => this.workLoop());
    const reader = this.readLoop();
    this.running = Promise.all([reader, ...workers]).then(() => undefined);
    this.housekeeping.start();
    this.log.info(
      {
        stream,
        group,
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
      this.readAhead.entryAvailable.notifyAll();
      this.readAhead.spaceAvailable.notifyAll();
      const deadline = setTimeout(() => {
        this.giveUp = true;
        this.gate.interrupt();
        this.log.warn({ inFlight: this.readAhead.heldCount - this.readAhead.queued }, 'shutdown deadline passed; unsettled entries are released for another bridge to take over');
      }, this.shutdownTimeoutMs);
      try {
        await this.running;
      } finally {
        clearTimeout(deadline);
        this.housekeeping.stopTimers();
      }
      await this.housekeeping.releaseQueued();
      this.reader.disconnect();
      await this.cmd.quit().catch(() => this.cmd.disconnect());
      this.log.info('bridge stopped');
    })();
    return this.stopped;
  }

  private async readLoop(): Promise<void> {
    await this.streamReader.run(() => this.stopping);
    this.readerDone = true;
    this.readAhead.entryAvailable.notifyAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Working

  private async workLoop(): Promise<void> {
    for (;;) {
      const entry = this.readAhead.take();
      if (!entry) {
        // Stopping: the reader has stopped, and what it had read is settled (or, past the
        // deadline, given up and released).
        if (this.stopping && this.readerDone) return;
        await this.readAhead.entryAvailable.wait();
        continue;
      }
      this.readAhead.spaceAvailable.notifyAll();
      this.metrics.inFlight.inc();
      try {
        await this.settle(entry);
      } catch (err) {
        // settle() handles every failure it knows; this is a bug. Leave the entry pending.
        this.log.error({ entryId: entry.id, err: errorText(err) }, 'unexpected error settling an entry; it stays pending');
      } finally {
        this.metrics.inFlight.dec();
        this.readAhead.done(entry.id);
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
        this.readAhead.abandon(entry.id);
        return 'abandoned';
      }
      try {
        parsed ??= safeParseEntry(entry.fields);
        const outcome = entry.deadLettered
          ? await this.deadLetters.deadLetter(entry, entry.deadLettered.reason, entry.deadLettered.info)
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
        const closing = this.gate.fail();
        this.metrics.blocked.set(1);
        if (closing.closedNow) {
          this.log.error(
            {
              dependency: err.dependency,
              err: err.detail,
              entryId: entry.id,
              attempts,
              waiting: this.readAhead.heldCount,
              retryInMs: closing.retryInMs,
              consecutiveFailures: closing.failures,
            },
            `${err.message}; entries stay unacknowledged, retrying in ${closing.retryInMs} ms`,
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
    return this.deadLetters.deadLetter(entry, `(entry): failed ${attempts} times while other entries succeeded, so it is this entry: ${what}`, {
      decisionId: parsed.ok ? parsed.decision.decision_id : parsed.decisionId,
      raw: parsed.raw,
    });
  }

  private async process(entry: Entry, parsed: ParsedEntry): Promise<EntryOutcome> {
    if (!parsed.ok) return this.deadLetters.deadLetter(entry, parsed.reason, { decisionId: parsed.decisionId, raw: parsed.raw });
    const decision = parsed.decision;
    const id = decision.decision_id;
    // A retry after the start went through (the row update or the ack failed) resumes there.
    if (entry.startOutcome) return this.afterStart(entry, decision, entry.startOutcome);
    // Who sent it, before anything is recorded under its id: a forged entry must not claim an id.
    if (this.safety.signingKey) {
      const forged = checkSignature(entry.fields, this.safety.signingKey);
      if (forged) return this.refuse(entry, parsed, forged, false);
    }
    const hash = contentHashOf(decision);
    // Judged now, acted on once the id's row tells whether this decision was started before
    // (a redelivered started decision is a duplicate, however old).
    const late = decision.decision === 'reject' ? undefined : checkAge(decision, Date.now(), this.safety);
    // One round trip: the row is written unless the id has one (or it is late, or trading is
    // halted); `before` is the row that was there, `halted` the kill switch.
    const claimed = await pgStep('recording the decision', () => this.options.recorder.claim(decision, entry.id, { insert: late === undefined }));
    if (!claimed.ok) return this.deadLetters.deadLetter(entry, claimed.reason, { decisionId: id, raw: parsed.raw });
    const { before, halted } = claimed.value;

    // Same id, other content: never executed, never silently dropped.
    if (before && before.status !== 'invalid' && before.contentHash !== hash) {
      return this.refuse(entry, parsed, conflictRefusal(decision, before, hash), false);
    }

    if (decision.decision === 'reject') {
      if (before?.status === 'rejected') return this.duplicate(entry, decision, 'postgres', 'rejection already recorded');
      await this.ack(entry);
      this.metrics.rejected.inc();
      this.log.info({ decisionId: id, entryId: entry.id, reasons: decision.reasons }, 'rejection recorded; nothing to execute');
      return 'rejected';
    }

    switch (before?.status) {
      case 'started':
      case 'completed':
      case 'failed':
      case 'rejected': // same content as a reject cannot be an approve; kept for completeness
        return this.duplicate(entry, decision, 'postgres', `decision already ${before.status}`);
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
      if (before?.status === 'received' && (await this.workflows.exists(id))) {
        entry.startOutcome = 'duplicate';
        return this.afterStart(entry, decision, 'duplicate');
      }
      return this.refuse(entry, parsed, refusal, before?.status === 'received');
    }
    entry.startOutcome = await this.workflows.start(decision, entry.id);
    return this.afterStart(entry, decision, entry.startOutcome);
  }

  /**
   * A valid decision a safety rule refuses: dead-lettered with the rule (`dead_rule`) and its
   * reason, recorded in `decisions` with `refused_rule`, counted, and alerted (one alert per rule
   * per minute, counting the refusals since the previous one).
   */
  private async refuse(entry: Entry, parsed: Extract<ParsedEntry, { ok: true }>, refusal: Refusal, takeOver: boolean): Promise<EntryOutcome> {
    const decision = parsed.decision;
    const outcome = await this.deadLetters.deadLetter(entry, refusal.reason, {
      decisionId: decision.decision_id,
      raw: parsed.raw,
      refused: { rule: refusal.rule, decision, takeOver },
    });
    if (outcome !== 'dead') return outcome;
    this.metrics.refused.inc({ rule: refusal.rule });
    this.refusalAlerts.refused(refusal, { decisionId: decision.decision_id, entryId: entry.id });
    return outcome;
  }


  /** The workflow exists now: whatever happens here must not dead-letter the entry. */
  private async afterStart(entry: Entry, decision: RiskDecision, outcome: 'started' | 'duplicate'): Promise<EntryOutcome> {
    const id = decision.decision_id;
    const marked = await pgStep('marking the decision started', () => this.options.recorder.recordStarted(id, workflowIdFor(id)));
    if (!marked.ok) this.log.error({ decisionId: id, err: marked.reason }, 'could not mark the decision started; its workflow runs');
    await this.ack(entry);
    if (outcome === 'duplicate') return this.duplicate(entry, decision, 'temporal', 'workflow already exists', false);
    return outcome;
  }


  private async duplicate(entry: Entry, decision: RiskDecision, by: 'temporal' | 'postgres', why: string, ack = true): Promise<EntryOutcome> {
    if (ack) await this.ack(entry);
    this.metrics.duplicates.inc({ detected_by: by });
    this.log.info({ decisionId: decision.decision_id, entryId: entry.id, detectedBy: by }, `duplicate decision not started again: ${why}`);
    return 'duplicate';
  }


  private async ack(entry: Entry): Promise<void> {
    // 0 acknowledged means another consumer took the entry over and acknowledged it: also done.
    await redisStep('acknowledging', () => this.cmd.xack(this.position.stream, this.position.group, entry.id));
  }

}

/** parseEntry never throws by design; should it anyway, the entry is invalid, not the bridge broken. */
function safeParseEntry(fields: Buffer[]): ParsedEntry {
  try {
    return parseEntry(fields);
  } catch (err) {
    return { ok: false, reason: `(entry): could not be parsed (${errorText(err)})` };
  }
}
