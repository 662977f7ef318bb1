/**
 * X-MBX-USED-WEIGHT-1M counts in calendar minutes, as on Binance: the count starts again at
 * each minute. A test that reads what a request cost from the difference of two counts must
 * make all its requests inside one minute, or a request at the edge reads as costing less
 * (CI on ce47679: ping in one minute, time and exchangeInfo in the next, 21 for 22). The paper
 * exchange counts on this machine's clock, so the test can tell which minute it is in.
 */
const MINUTE_MS = 60_000;
/** Longer than any test that uses it takes, so that it ends in the minute it began in. */
const DEFAULT_MARGIN_MS = 5_000;

const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS);

/** Waits into the next minute when fewer than `marginMs` are left of this one; returns the minute. */
export async function awayFromMinuteEdge(marginMs = DEFAULT_MARGIN_MS): Promise<number> {
  const left = MINUTE_MS - (Date.now() % MINUTE_MS);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 10));
  return minuteOf(Date.now());
}

/** Throws, saying why, when the minute is no longer `minute`: the counts can no longer be compared. */
export function stillInMinute(minute: number): void {
  if (minuteOf(Date.now()) !== minute) {
    throw new Error('the test ran into the next minute, where the exchange counts weight from 0 again: its weights cannot be compared (it took longer than awayFromMinuteEdge allowed for)');
  }
}
