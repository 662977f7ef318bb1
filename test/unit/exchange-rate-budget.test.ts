import { fakeBudget } from './fixtures/fake-budget';

describe('RateBudget', () => {
  test('a burst beyond the allowance waits for the next window instead of overbooking it', async () => {
    const { b, sleeps, now } = fakeBudget(10); // allowance 9 (90 %)
    const start = now();
    const sentAt: number[] = [];
    for (let i = 0; i < 25; i++) {
      await b.acquire(1, 0);
      sentAt.push(now());
    }
    const perWindow = new Map<number, number>();
    for (const t of sentAt) perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(10);
    expect(sleeps.length).toBeGreaterThan(0);
    expect(now() - start).toBeGreaterThanOrEqual(2000);
    expect(b.usage().delayedRequests).toBe(sleeps.length);
  });

  test('reads may use only part of the allowance; placing and cancelling still fit when reads must wait', () => {
    const { b, now } = fakeBudget(10); // allowance 9; reads 80 % of it: 7
    const nextWindow = now() + 1000;
    for (let i = 0; i < 7; i++) expect(b.tryReserve(1, 0, 'read')).toBe(0);
    expect(b.tryReserve(1, 0, 'read')).toBe(nextWindow); // the 8th read waits...
    expect(b.tryReserve(1, 0, 'trade')).toBe(0); // ...while a cancel goes now
    expect(b.tryReserve(1, 0, 'trade')).toBe(0);
    expect(b.tryReserve(1, 0, 'trade')).toBe(nextWindow); // 9 used: the whole allowance
    expect(b.usage().budget[0]!.used).toBe(9);
  });

  test('requests near a window end are also charged to the next window', async () => {
    const { b, advance } = fakeBudget(10);
    advance(950); // inside the last 100 ms of the 1 s window
    for (let i = 0; i < 9; i++) await b.acquire(1, 0);
    advance(60); // next window
    expect(b.usage().budget[0]!.used).toBe(9);
  });

  test('usage headers raise the local count (other processes share the IP)', async () => {
    const { b, now } = fakeBudget(10);
    await b.acquire(1, 0);
    b.observeHeaders({ 'x-mbx-used-weight-1s': '8' }, now());
    expect(b.usage().budget[0]!.used).toBe(8);
    expect(b.usage().headers['x-mbx-used-weight-1s']).toBe(8);
    const before = now();
    await b.acquire(2, 0); // 8 + 2 > 9: waits
    expect(now()).toBeGreaterThan(before);
  });

  test('pauseUntil (after a 429) holds every request', async () => {
    const { b, now } = fakeBudget(1000);
    b.pauseUntil(now() + 3000);
    const before = now();
    await b.acquire(1, 0);
    expect(now() - before).toBeGreaterThanOrEqual(3000);
  });
});
