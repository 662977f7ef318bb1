/**
 * Lua scripts that make the bridge's multi-step stream operations atomic.
 *
 * Each script first checks that the entry is still pending *for this consumer*: after a long
 * pause another bridge may have claimed it (XAUTOCLAIM), and then it is that bridge's to settle.
 * This is what makes dead-lettering exactly-once: the copy to the dead-letter stream and the
 * acknowledgement happen together or not at all, and only by the entry's current owner.
 *
 * The two streams are different keys, so with Redis Cluster they would have to share a hash
 * slot (e.g. `{risk_decisions}` and `{risk_decisions}:dead`); this service uses one Redis.
 */
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * KEYS: stream, dead-letter stream. ARGV: group, entry id, consumer, dead-letter MAXLEN, then the
 * dead-letter entry's field/value list. Returns 1 when moved, 0 when the entry is no longer ours.
 */
const DEAD_LETTER_AND_ACK = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #p == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * KEYS: stream. ARGV: group, consumer, idle ms to set, then entry ids. Sets the idle time of
 * each id still pending for this consumer (0: "still working on it", so XAUTOCLAIM elsewhere
 * leaves it alone; large: "released", so another consumer may take it at once). Does not count
 * as a delivery. Returns how many ids were ours.
 */
const SET_IDLE = `
local n = 0
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
    n = n + 1
  end
end
return n
`;

/**
 * KEYS: stream. ARGV: group, min idle ms, consumer to keep. Deletes consumers that have nothing
 * pending and have been idle at least that long (bridges that died or were replaced; every
 * restart has a new consumer name). Checking and deleting in one script means no entry can be
 * delivered to a consumer between the check and its deletion, which would lose it from the PEL.
 * Returns the names deleted.
 */
const PRUNE_CONSUMERS = `
local removed = {}
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] ~= ARGV[3] and tonumber(info['pending']) == 0 and tonumber(info['idle']) >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
`;

/** Lua's unpack() is limited by the C stack (8000 slots in Redis); stay well below. */
export const MAX_SCRIPT_ARGS = 4000;

export class BridgeScripts {
  constructor(private readonly redis: Redis) {}

  async deadLetterAndAck(a: {
    stream: string;
    dead: string;
    group: string;
    consumer: string;
    entryId: string;
    maxLen: number;
    fields: Array<string | Buffer>;
  }): Promise<boolean> {
    const r = await this.run(DEAD_LETTER_AND_ACK, [a.stream, a.dead], [a.group, a.entryId, a.consumer, String(a.maxLen), ...a.fields]);
    return Number(r) === 1;
  }

  async setIdle(a: { stream: string; group: string; consumer: string; idleMs: number; ids: string[] }): Promise<number> {
    if (a.ids.length === 0) return 0;
    let n = 0;
    for (let i = 0; i < a.ids.length; i += 1000) {
      n += Number(await this.run(SET_IDLE, [a.stream], [a.group, a.consumer, String(a.idleMs), ...a.ids.slice(i, i + 1000)]));
    }
    return n;
  }

  async pruneConsumers(a: { stream: string; group: string; minIdleMs: number; keep: string }): Promise<string[]> {
    return (await this.run(PRUNE_CONSUMERS, [a.stream], [a.group, String(a.minIdleMs), a.keep])) as string[];
  }

  /** EVALSHA, falling back to EVAL once when the script cache does not have it (restart, flush). */
  private async run(script: string, keys: string[], args: Array<string | Buffer>): Promise<unknown> {
    const sha = sha1(script);
    try {
      return await this.redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return await this.redis.eval(script, keys.length, ...keys, ...args);
    }
  }
}

const shas = new Map<string, string>();
function sha1(s: string): string {
  let h = shas.get(s);
  if (!h) shas.set(s, (h = createHash('sha1').update(s).digest('hex')));
  return h;
}
