/**
 * The set-up shared by the tests that run against the paper exchange over HTTP and a migrated
 * Postgres database of their own (reconciliation, risk): started before all tests, handed to
 * `ready` (for the test's own objects), closed after all tests.
 */
import { BinanceSpotClient } from '../../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../../src/paper-exchange';
import { createPool } from '../../../src/persistence/db';
import { migrate } from '../../../src/persistence/migrate';
import { freshDatabase, type FreshDatabase } from '../../support/fresh-database';
import { testServices } from '../../support/services';

export interface PaperAndDatabase {
  paper: PaperExchange;
  db: FreshDatabase;
  pool: ReturnType<typeof createPool>;
  exchange: BinanceSpotClient;
}

/** The paper exchange and the database, live from beforeAll on (what `ready` is handed too). */
export function usePaperAndDatabase(name: string, seed: number, ready: (s: PaperAndDatabase) => void): PaperAndDatabase {
  const s = {} as PaperAndDatabase;
  beforeAll(async () => {
    s.db = await freshDatabase(testServices().databaseUrl, name);
    s.pool = createPool(s.db.url);
    await migrate(s.pool);
    s.paper = await startPaperExchange({ port: 0, seed });
    s.exchange = new BinanceSpotClient({ baseUrl: s.paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, recvWindow: 5000 });
    ready(s);
  }, 60_000);
  afterAll(async () => {
    await s.exchange?.close();
    await s.paper?.close();
    await s.pool?.end();
    await s.db?.drop();
  });
  return s;
}
