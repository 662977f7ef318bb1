/**
 * The send log's claim is a compare-and-set: of two senders that looked at the same version of an
 * intent (an attempt Temporal gave up on and the next one, or the old run and the new one after a
 * reset) exactly one may log a send; a settle (fence) makes every earlier look stale. Real
 * PostgreSQL, and the in-memory log held to the same rules.
 */
import { Pool } from 'pg';
import { migrate } from '../../src/persistence/migrate';
import { createMemorySendLog, createPgSendLog, type SendLog } from '../../src/persistence/send-log';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';

let db: FreshDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await freshDatabase(testServices().databaseUrl, 'sendlog');
  pool = new Pool({ connectionString: db.url });
  await migrate(pool);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const logs: Array<[string, () => SendLog]> = [
  ['postgres', () => createPgSendLog(pool)],
  ['memory', () => createMemorySendLog()],
];

describe.each(logs)('%s send log', (kind, make) => {
  const id = (name: string) => `${kind}-${name}-${Math.random().toString(36).slice(2, 8)}`;

  test('of two senders that saw the same version, exactly one logs its send', async () => {
    const log = make();
    const intent = id('race');
    const seen = await log.read(intent);
    expect(seen).toEqual({ version: 0, acceptableUntilMs: undefined });
    const claims = await Promise.all([log.claimSend(intent, seen.version, Date.now() + 5000), log.claimSend(intent, seen.version, Date.now() + 5000)]);
    expect(claims.filter((c) => c !== undefined)).toEqual([1]);
    // The loser's next look sees the winner's send and must settle it.
    expect((await log.read(intent)).version).toBe(1);
    expect(await log.claimSend(intent, 1, Date.now() + 5000)).toBe(2);
  });

  test('a settle (fence) makes every earlier look stale', async () => {
    const log = make();
    const intent = id('fence');
    const v = await log.claimSend(intent, 0, Date.now() + 5000);
    expect(v).toBe(1);
    await log.fence(intent);
    expect(await log.claimSend(intent, 1, Date.now() + 5000)).toBeUndefined();
    // A fence on an intent never logged also stops a sender that looked before it.
    const fresh = id('fence-new');
    await log.fence(fresh);
    expect(await log.claimSend(fresh, 0, Date.now() + 5000)).toBeUndefined();
  });

  test('only the sender that logged last may narrow the window', async () => {
    const log = make();
    const intent = id('narrow');
    const far = Date.now() + 60_000;
    await log.claimSend(intent, 0, far);
    await log.claimSend(intent, 1, far);
    await log.narrow(intent, 1, Date.now()); // an older sender's late refusal: ignored
    expect(Math.abs((await log.lastSend(intent))! - far)).toBeLessThan(5);
    await log.narrow(intent, 2, 1_000);
    expect(await log.lastSend(intent)).toBe(1_000);
  });
});
