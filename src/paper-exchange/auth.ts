/**
 * Signature and timestamp checks, as Binance performs them. The signature covers the raw query
 * string (without the signature parameter) followed by the raw body, exactly as received, so
 * whatever percent-encoding the client chose is what gets verified.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { Account } from './engine';
import { ApiError, badRequest, MSG } from './wire';

export function stripSignature(raw: string): { payload: string; signature: string | undefined } {
  if (raw === '') return { payload: '', signature: undefined };
  let signature: string | undefined;
  const kept: string[] = [];
  for (const part of raw.split('&')) {
    if (part.startsWith('signature=')) signature = decodeURIComponent(part.slice('signature='.length).replace(/\+/g, ' '));
    else kept.push(part);
  }
  return { payload: kept.join('&'), signature };
}

const publicKeys = new WeakMap<Account, KeyObject>();

export function verifySignature(acct: Account, rawQuery: string, rawBody: string): void {
  const q = stripSignature(rawQuery);
  const b = stripSignature(rawBody);
  const signature = q.signature ?? b.signature;
  if (signature === undefined || signature === '') {
    throw badRequest(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
  }
  const payload = Buffer.from(q.payload + b.payload, 'utf8');
  if (acct.config.ed25519PublicKeyPem !== undefined) {
    let key = publicKeys.get(acct);
    if (!key) {
      key = createPublicKey(acct.config.ed25519PublicKeyPem);
      publicKeys.set(acct, key);
    }
    let ok = false;
    try {
      ok = verify(null, payload, key, Buffer.from(signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) throw badRequest(-1022, MSG.badSignature);
    return;
  }
  const secret = acct.config.apiSecret;
  if (secret === undefined) throw new ApiError(401, -2015, MSG.invalidApiKey);
  const expected = createHmac('sha256', secret).update(payload).digest();
  // HMAC signatures are hex and case-insensitive.
  const given = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw badRequest(-1022, MSG.badSignature);
}

/** Binance's rule: timestamp < serverTime + 1s and serverTime - timestamp <= recvWindow. */
export function checkTimestamp(timestampRaw: string | undefined, recvWindowRaw: string | undefined, serverTime: number): void {
  if (timestampRaw === undefined || !/^\d{1,20}$/.test(timestampRaw)) {
    throw badRequest(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.");
  }
  let timestamp = Number(timestampRaw);
  // Microsecond timestamps are accepted too.
  if (timestamp > 1e14) timestamp = Math.floor(timestamp / 1000);
  let recvWindow = 5000;
  if (recvWindowRaw !== undefined) {
    if (!/^\d+(\.\d{1,3})?$/.test(recvWindowRaw)) throw badRequest(-1102, "Mandatory parameter 'recvWindow' was not sent, was empty/null, or malformed.");
    recvWindow = Number(recvWindowRaw);
    if (recvWindow > 60000) throw badRequest(-1102, "'recvWindow' contains unexpected value. Cannot be greater than 60000.");
  }
  if (timestamp >= serverTime + 1000) throw badRequest(-1021, MSG.timestampAhead);
  if (serverTime - timestamp > recvWindow) throw badRequest(-1021, MSG.recvWindowOutside);
}

/**
 * Binance's third check (CHANGELOG 2025-05-22): "Just before a request is forwarded to the
 * Matching Engine, if the difference between `timestamp` and the current `serverTime` is
 * greater than `recvWindow`, the request is rejected." Same -1021 message as at receipt.
 * The parameters already passed checkTimestamp at receipt, so they are well formed.
 */
export function checkRecvWindowAtMatching(timestampRaw: string | undefined, recvWindowRaw: string | undefined, serverTime: number): void {
  if (timestampRaw === undefined) return;
  let timestamp = Number(timestampRaw);
  if (timestamp > 1e14) timestamp = Math.floor(timestamp / 1000);
  const recvWindow = recvWindowRaw === undefined ? 5000 : Number(recvWindowRaw);
  if (serverTime - timestamp > recvWindow) throw badRequest(-1021, MSG.recvWindowOutside);
}
