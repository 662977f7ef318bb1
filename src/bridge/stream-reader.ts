/**
 * The bridge's one reader: fills the read-ahead from the consumer group, first with this
 * consumer's own pending entries (a restart under the same name), then, every `claimIdleMs / 2`,
 * with entries other consumers left idle for `claimIdleMs` (XAUTOCLAIM: they died), otherwise
 * with new entries (XREADGROUP >, BLOCK).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Redis from 'ioredis';
import type { Logger } from '../logging';
import { errorText } from './dependency-error';
import type { BridgeMetrics } from './metrics';
import type { Entry, ReadAhead } from './read-ahead';

/** Where this consumer reads. */
export interface StreamPosition {
  stream: string;
  group: string;
  consumer: string;
}

export interface StreamReaderOptions extends StreamPosition {
  /** Its own connection: XREADGROUP BLOCK would stall every other command on a shared one. */
  reader: Redis;
  /** The auto-pipelined connection for everything that does not block. */
  cmd: Redis;
  readAhead: ReadAhead;
  batchSize: number;
  blockMs: number;
  claimIdleMs: number;
  metrics: BridgeMetrics;
  log: Logger;
}

type StreamEntries = Array<[Buffer, Buffer[] | null]>;

export class StreamReader {
  constructor(private readonly opts: StreamReaderOptions) {}

  /** Reads until `stopping()` says so; then wakes the workers so they see the reader is done. */
  async run(stopping: () => boolean): Promise<void> {
    const { readAhead, batchSize, blockMs, claimIdleMs, metrics, log, cmd, stream, group } = this.opts;
    let ownCursor: string | undefined = '0-0'; // undefined once our own pending entries are drained
    let claimCursor = '0-0';
    let nextClaimAt = 0;
    let backoffMs = 250;
    while (!stopping()) {
      try {
        const room = batchSize - readAhead.queued;
        if (room <= 0) {
          await readAhead.spaceAvailable.wait(blockMs);
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
          if (claimCursor === '0-0') nextClaimAt = Date.now() + Math.max(250, Math.floor(claimIdleMs / 2));
        } else {
          const entries = await this.readNew(room);
          if (entries.length) this.enqueue(entries, 'back');
        }
        backoffMs = 250;
      } catch (err) {
        if (stopping()) break;
        const message = errorText(err);
        if (message.includes('NOGROUP')) {
          // The stream or group was deleted under us (an operator, a test): recreate and go on.
          log.warn({ err: message }, 'consumer group missing; recreating it');
          await ensureGroup(cmd, stream, group).catch(() => undefined);
        } else {
          metrics.failures.inc({ dependency: 'redis' });
          log.error({ err: message, retryInMs: backoffMs }, `reading ${stream} from Redis failed; retrying`);
        }
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
  }

  private async readNew(count: number): Promise<Entry[]> {
    const { reader, group, consumer, blockMs, stream } = this.opts;
    const reply = (await buffers(reader).xreadgroupBuffer(
      'GROUP', group, consumer, 'COUNT', String(count), 'BLOCK', String(blockMs), 'STREAMS', stream, '>',
    )) as Array<[Buffer, StreamEntries]> | null;
    return this.toEntries(reply?.[0]?.[1] ?? []);
  }

  /** One page of this consumer's own pending entries after `cursor`; `next` undefined when done. */
  private async readOwnPending(cursor: string, count: number): Promise<{ entries: Entry[]; next: string | undefined }> {
    const { cmd, group, consumer, stream, log } = this.opts;
    const reply = (await buffers(cmd).xreadgroupBuffer(
      'GROUP', group, consumer, 'COUNT', String(count), 'STREAMS', stream, cursor,
    )) as Array<[Buffer, StreamEntries]> | null;
    const raw = reply?.[0]?.[1] ?? [];
    if (raw.length === 0) return { entries: [], next: undefined };
    const entries = await this.toEntries(raw);
    if (entries.length) log.info({ count: entries.length }, 'resuming entries this consumer had read but not acknowledged');
    return { entries, next: raw[raw.length - 1]![0].toString() };
  }

  private async claimIdle(cursor: string, count: number): Promise<{ entries: Entry[]; next: string }> {
    const { cmd, stream, group, consumer, claimIdleMs, metrics, log, readAhead } = this.opts;
    const reply = (await buffers(cmd).xautoclaimBuffer(
      stream, group, consumer, String(claimIdleMs), cursor, 'COUNT', String(count),
    )) as [Buffer, StreamEntries, Buffer[]?];
    const deleted = reply[2] ?? [];
    if (deleted.length) {
      // Redis has already removed them from the pending list; there is nothing left to settle.
      metrics.deletedWhilePending.inc(deleted.length);
      log.warn({ ids: deleted.slice(0, 20).map(String), count: deleted.length }, 'pending entries were deleted from the stream before being settled');
    }
    const entries = (await this.toEntries(reply[1])).filter((entry) => !readAhead.isHeld(entry.id));
    if (entries.length) {
      metrics.reclaimed.inc(entries.length);
      log.info({ count: entries.length, first: entries[0]!.id }, 'took over entries another consumer left idle');
    }
    return { entries, next: reply[0].toString() };
  }

  /** Converts a reply; entries deleted while pending (null fields) are acknowledged and skipped. */
  private async toEntries(raw: StreamEntries): Promise<Entry[]> {
    const { cmd, stream, group, metrics, log } = this.opts;
    const out: Entry[] = [];
    const gone: string[] = [];
    for (const [id, fields] of raw) {
      if (Array.isArray(fields)) out.push({ id: id.toString(), fields });
      else gone.push(id.toString());
    }
    if (gone.length) {
      await cmd.xack(stream, group, ...gone);
      metrics.deletedWhilePending.inc(gone.length);
      log.warn({ ids: gone.slice(0, 20), count: gone.length }, 'pending entries were deleted from the stream before being settled');
    }
    return out;
  }

  private enqueue(entries: Entry[], where: 'front' | 'back'): void {
    this.opts.metrics.read.inc(this.opts.readAhead.enqueue(entries, where));
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
