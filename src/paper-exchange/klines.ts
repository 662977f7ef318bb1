/**
 * Klines (candlesticks) from the tape's bars: Binance's intervals, its timeZone parameter and its
 * kline array layout. Intervals of a second come from the 1s bars (the last hour), all others from
 * the 1m bars (the last seven days); an interval with no trade has no kline.
 */
import { D, type Dec } from '../shared/decimal';
import { badRequest } from './wire';
import type { Bar, BarSeries, TradeTape } from './tape';

export const KLINE_INTERVALS = ['1s', '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'] as const;
export type KlineInterval = (typeof KLINE_INTERVALS)[number];

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** 1970-01-01 was a Thursday; Binance's weeks start on Monday. */
const FIRST_MONDAY = 4 * DAY;

const FIXED_MS: Record<Exclude<KlineInterval, '1M'>, number> = {
  '1s': SECOND,
  '1m': MINUTE,
  '3m': 3 * MINUTE,
  '5m': 5 * MINUTE,
  '15m': 15 * MINUTE,
  '30m': 30 * MINUTE,
  '1h': HOUR,
  '2h': 2 * HOUR,
  '4h': 4 * HOUR,
  '6h': 6 * HOUR,
  '8h': 8 * HOUR,
  '12h': 12 * HOUR,
  '1d': DAY,
  '3d': 3 * DAY,
  '1w': 7 * DAY,
};

export function parseInterval(raw: string | undefined): KlineInterval {
  if (raw === undefined) throw badRequest(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.");
  if (!(KLINE_INTERVALS as readonly string[]).includes(raw)) throw badRequest(-1120, 'Invalid interval.');
  return raw as KlineInterval;
}

/**
 * timeZone: hours and minutes ("-1:00", "05:45") or hours ("0", "8", "+8"), within [-12:00,
 * +14:00]; returns the offset in ms. Binance documents the accepted forms but not the error for
 * others; -1130 (invalid parameter data) is the paper exchange's choice.
 */
export function parseTimeZone(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const m = /^([+-])?(\d{1,2})(?::(\d{2}))?$/.exec(raw);
  const bad = badRequest(-1130, "Data sent for parameter 'timeZone' is not valid.");
  if (!m) throw bad;
  const sign = m[1] === '-' ? -1 : 1;
  const hours = Number(m[2]);
  const minutes = m[3] === undefined ? 0 : Number(m[3]);
  if (minutes > 59) throw bad;
  const offset = sign * (hours * HOUR + minutes * MINUTE);
  if (offset < -12 * HOUR || offset > 14 * HOUR) throw bad;
  return offset;
}

/** The open time (UTC ms) of the interval containing `t`, intervals counted in the offset's local time. */
export function intervalOpen(interval: KlineInterval, t: number, offsetMs: number): number {
  const local = t + offsetMs;
  if (interval === '1M') {
    const d = new Date(local);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - offsetMs;
  }
  const width = FIXED_MS[interval];
  const base = interval === '1w' ? FIRST_MONDAY : 0;
  return Math.floor((local - base) / width) * width + base - offsetMs;
}

/** The last ms of the interval opening at `open`. */
export function intervalClose(interval: KlineInterval, open: number, offsetMs: number): number {
  if (interval === '1M') {
    const d = new Date(open + offsetMs);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - offsetMs - 1;
  }
  return open + FIXED_MS[interval] - 1;
}

export interface Kline {
  openTime: number;
  closeTime: number;
  bar: Bar;
}

function merge(into: Bar, b: Bar): void {
  into.high = D.max(into.high, b.high);
  into.low = D.min(into.low, b.low);
  into.close = b.close;
  into.volume = into.volume.plus(b.volume);
  into.quoteVolume = into.quoteVolume.plus(b.quoteVolume);
  into.count += b.count;
  into.takerBuyVolume = into.takerBuyVolume.plus(b.takerBuyVolume);
  into.takerBuyQuoteVolume = into.takerBuyQuoteVolume.plus(b.takerBuyQuoteVolume);
  into.firstId = Math.min(into.firstId, b.firstId);
  into.lastId = Math.max(into.lastId, b.lastId);
}

/** All klines of an interval the tape still has bars for, oldest first. */
export function klinesOf(tape: TradeTape, interval: KlineInterval, offsetMs: number): Kline[] {
  const source: BarSeries = interval === '1s' ? tape.seconds : tape.minutes;
  const out: Kline[] = [];
  for (const b of source.bars.toArray()) {
    const open = intervalOpen(interval, b.openTime, offsetMs);
    const cur = out[out.length - 1];
    if (cur && cur.openTime === open) merge(cur.bar, b);
    else out.push({ openTime: open, closeTime: intervalClose(interval, open, offsetMs), bar: { ...b, openTime: open } });
  }
  return out;
}

/** Binance selects by open time: from startTime, up to endTime; without either the most recent. */
export function selectKlines(all: Kline[], startTime: number | undefined, endTime: number | undefined, limit: number): Kline[] {
  const inRange = all.filter((k) => (startTime === undefined || k.openTime >= startTime) && (endTime === undefined || k.openTime <= endTime));
  return startTime !== undefined ? inRange.slice(0, limit) : inRange.slice(-limit);
}

const fmt8 = (d: Dec): string => d.toFixed(8, D.ROUND_DOWN);

/** A kline as Binance sends it: a 12-element array, decimals as strings. */
export function klineJson(k: Kline): unknown[] {
  const b = k.bar;
  return [
    k.openTime,
    fmt8(b.open),
    fmt8(b.high),
    fmt8(b.low),
    fmt8(b.close),
    fmt8(b.volume),
    k.closeTime,
    fmt8(b.quoteVolume),
    b.count,
    fmt8(b.takerBuyVolume),
    fmt8(b.takerBuyQuoteVolume),
    '0',
  ];
}
