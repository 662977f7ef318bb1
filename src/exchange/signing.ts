/**
 * Request signing exactly as Binance documents it: the payload is the query string followed
 * (without separator) by the body, as sent, with every character outside RFC 3986's unreserved
 * set percent-encoded as UTF-8 bytes. We send every parameter in the query string and no body,
 * so the payload is the query string.
 */
import { createHmac, createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';

export type ParamValue = string | number | boolean | undefined;
export type Params = Record<string, ParamValue>;

/**
 * `encodeURIComponent` leaves !'()* alone; Binance's reference encoder (and RFC 3986) does not,
 * so those are escaped too. Hex digits are upper case as in the documented example.
 */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Serialises parameters in insertion order, skipping undefined ones. */
export function encodeParams(params: Params): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    parts.push(`${percentEncode(k)}=${percentEncode(String(v))}`);
  }
  return parts.join('&');
}

export interface Signer {
  readonly keyType: 'HMAC' | 'ED25519';
  /** Returns the value of the `signature` parameter, not yet percent-encoded. */
  sign(payload: string): string;
}

export function hmacSignature(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
}

export function hmacSigner(secret: string): Signer {
  return { keyType: 'HMAC', sign: (payload) => hmacSignature(payload, secret) };
}

export function ed25519Signer(privateKeyPem: string): Signer {
  const key: KeyObject = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  // Ed25519 signs the message itself (no pre-hash), so the algorithm argument is null.
  return { keyType: 'ED25519', sign: (payload) => cryptoSign(null, Buffer.from(payload, 'utf8'), key).toString('base64') };
}

/** Appends the signature to an already-encoded query string. */
export function signQuery(query: string, signer: Signer): string {
  const signature = signer.sign(query);
  return `${query}&signature=${percentEncode(signature)}`;
}
