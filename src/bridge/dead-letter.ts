/**
 * Dead-lettering: an entry that is not to be executed (malformed, refused by a safety rule, or
 * failing where others succeed) is copied to the dead-letter stream with its reason and
 * acknowledged, then recorded in Postgres.
 */
import type { Logger } from '../logging';
import type { RefusalRule } from './intake-safety';
import type { BridgeRecorder } from './decision-recorder';
import { DependencyError, errorText, isPgUnavailable, redisStep } from './dependency-error';
import { MAX_DATA_BYTES } from './entry';
import type { BridgeMetrics } from './metrics';
import type { DeadLetterInfo, Entry, EntryOutcome } from './read-ahead';
import { MAX_SCRIPT_ARGS, type BridgeScripts } from './redis-scripts';
import type { StreamPosition } from './stream-reader';

/** Values longer than this are cut in the dead-letter copy (the field `dead_truncated` says so). */
export const MAX_DEAD_LETTER_VALUE_BYTES = 1024 * 1024;
const DEAD_LETTER_MAXLEN = 1_000_000;

export interface DeadLettererOptions extends StreamPosition {
  /** The dead-letter stream. */
  dead: string;
  scripts: BridgeScripts;
  recorder: BridgeRecorder;
  metrics: BridgeMetrics;
  log: Logger;
}

export class DeadLetterer {
  constructor(private readonly opts: DeadLettererOptions) {}

  /**
   * Moves the entry to the dead-letter stream and acknowledges it (one atomic script, only while
   * the entry is ours), then records it in Postgres as 'invalid'. The dead-letter stream is the
   * record that matters (operators watch and replay it); the row serves audit queries. Postgres
   * being down is waited out (the retry resumes after the dead-lettering, see `deadLettered`); a
   * payload Postgres refuses is recorded without it. Should the process die between the two, the
   * entry is dead-lettered but has no row.
   */
  async deadLetter(entry: Entry, reason: string, info: DeadLetterInfo): Promise<EntryOutcome> {
    const { scripts, stream, dead, group, consumer, metrics, log, recorder } = this.opts;
    if (!entry.deadLettered) {
      const moved = await redisStep('dead-lettering', () =>
        scripts.deadLetterAndAck({
          stream,
          dead,
          group,
          consumer,
          entryId: entry.id,
          maxLen: DEAD_LETTER_MAXLEN,
          fields: deadLetterFields(entry, reason, { stream, consumer }, info.refused?.rule),
        }),
      );
      if (!moved) {
        log.info({ entryId: entry.id }, 'entry was taken over by another consumer before it was dead-lettered; leaving it to them');
        return 'not-ours';
      }
      entry.deadLettered = { reason, info };
      metrics.deadLettered.inc();
      log.warn({ entryId: entry.id, decisionId: info.decisionId, reason, ...(info.refused ? { rule: info.refused.rule } : {}) }, 'entry dead-lettered');
    }
    const raw = info.raw !== undefined && Buffer.byteLength(info.raw) <= MAX_DATA_BYTES ? info.raw : undefined;
    const record = async (withRaw: string | undefined): Promise<unknown> => {
      try {
        if (info.refused) {
          const { rule, decision, takeOver } = info.refused;
          await recorder.recordRefused({ decision, rule, reason, entryId: entry.id, takeOver });
        } else {
          await recorder.recordInvalid({ decisionId: info.decisionId, reason, raw: withRaw, entryId: entry.id });
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
      log.warn({ entryId: entry.id, err: errorText(refused) }, 'dead-lettered entry could not be recorded in Postgres');
    }
    return 'dead';
  }
}

/** Our fields first (readers take the first `dead_reason`), then the original ones as received. */
function deadLetterFields(
  entry: Entry,
  reason: string,
  from: { stream: string; consumer: string },
  rule?: RefusalRule,
): Array<string | Buffer> {
  const meta: Array<string | Buffer> = [
    'dead_reason', reason,
    ...(rule ? ['dead_rule', rule] : []),
    'dead_entry_id', entry.id,
    'dead_at', new Date().toISOString(),
    'dead_stream', from.stream,
    'dead_consumer', from.consumer,
  ];
  const notes: string[] = [];
  let original = entry.fields;
  const room = MAX_SCRIPT_ARGS - meta.length - 10;
  if (original.length > room) {
    notes.push(`only the first ${room / 2} of ${Math.floor(original.length / 2)} fields kept`);
    original = original.slice(0, room);
  }
  if (original.length % 2 !== 0) original = [...original, Buffer.alloc(0)];
  original = original.map((value, index) => {
    if (value.length <= MAX_DEAD_LETTER_VALUE_BYTES) return value;
    notes.push(`${index % 2 === 0 ? 'field name' : 'value'} #${Math.floor(index / 2)} cut from ${value.length} to ${MAX_DEAD_LETTER_VALUE_BYTES} bytes`);
    return value.subarray(0, MAX_DEAD_LETTER_VALUE_BYTES);
  });
  if (notes.length) meta.push('dead_truncated', notes.join('; '));
  return [...meta, ...original];
}
