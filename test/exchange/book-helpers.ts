/**
 * Reads the paper exchange's book over its public endpoints, so a test can state where an order
 * must fill (at the best ask for a BUY, the best bid for a SELL) instead of assuming a price.
 */
import { dec, type Dec } from '../../src/shared/decimal';

export interface BookTop {
  bidPrice: string;
  bidQty: string;
  askPrice: string;
  askQty: string;
}

export async function bookTop(baseUrl: string, symbol: string): Promise<BookTop> {
  const r = await fetch(`${baseUrl}/api/v3/ticker/bookTicker?symbol=${symbol}`);
  if (r.status !== 200) throw new Error(`bookTicker ${symbol}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as BookTop;
}

export interface Depth {
  lastUpdateId: number;
  bids: [string, string][];
  asks: [string, string][];
}

export async function depth(baseUrl: string, symbol: string, limit = 100): Promise<Depth> {
  const r = await fetch(`${baseUrl}/api/v3/depth?symbol=${symbol}&limit=${limit}`);
  if (r.status !== 200) throw new Error(`depth ${symbol}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as Depth;
}

/** The quantity a side offers at prices up to (asks) or down to (bids) `limit`. */
export function qtyWithin(levels: [string, string][], side: 'asks' | 'bids', limit: string): Dec {
  return levels
    .filter(([p]) => (side === 'asks' ? dec(p).lte(limit) : dec(p).gte(limit)))
    .reduce((a, [, q]) => a.plus(q), dec(0));
}

/** A signed REST request (HMAC-SHA256), for parameters our client does not send (e.g. selfTradePreventionMode). */
export async function signed(
  baseUrl: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  params: Record<string, string>,
  apiKey: string,
  apiSecret: string,
): Promise<{ status: number; json: Record<string, unknown> & { code?: number; msg?: string }; weight: number }> {
  const { createHmac } = await import('node:crypto');
  const query = new URLSearchParams({ ...params, timestamp: String(Date.now()) }).toString();
  const signature = createHmac('sha256', apiSecret).update(query).digest('hex');
  const r = await fetch(`${baseUrl}${path}?${query}&signature=${signature}`, { method, headers: { 'X-MBX-APIKEY': apiKey } });
  return { status: r.status, json: (await r.json()) as Record<string, unknown>, weight: Number(r.headers.get('x-mbx-used-weight-1m')) };
}

/** An unsigned GET: status, body and the X-MBX-USED-WEIGHT-1M header. */
export async function publicGet(baseUrl: string, path: string): Promise<{ status: number; json: unknown; weight: number }> {
  const r = await fetch(`${baseUrl}${path}`);
  return { status: r.status, json: await r.json(), weight: Number(r.headers.get('x-mbx-used-weight-1m')) };
}
