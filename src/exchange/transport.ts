/**
 * The one request path of the Binance Spot REST client: wait for a send slot and the rate
 * budget, sign with the exchange clock's offset, send on one keep-alive pool, parse with zod,
 * and classify failures into BinanceError. Endpoints live in client.ts.
 */
import { Pool } from 'undici';
import type { z } from 'zod';
import type { Logger } from '../logging';
import { BinanceError, classifyHttpError, classifyTransportError, isBinanceError } from './errors';
import { RateBudget, weightWhenSuccessful, type RateLimitUsage } from './rate-limit';
import { ErrorBodySchema, ServerTimeSchema, type RateLimit } from './schemas';
import { ed25519Signer, encodeParams, hmacSigner, signQuery, type Params, type Signer } from './signing';

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string;
  apiSecret?: string;
  ed25519PrivateKeyPem?: string;
  /** ms, default 5000 (Binance's default); at most 60000. */
  recvWindow?: number;
  /** Whole-request timeout in ms, default 10000. */
  timeoutMs?: number;
  logger?: Logger;
  /** Keep-alive connections in the pool, default 8. */
  connections?: number;
}

/**
 * Per-request callbacks for the caller that must know exactly when, and with which timestamp, a
 * request went out (the exactly-once rule measures recvWindow from it; a cancelled activity
 * must not send). They run inside the client's request path, after every wait it imposes.
 */
export interface RequestHooks {
  /** Called right before the request's bytes go out — after every wait for a send slot or rate budget, and before each resend (e.g. after -1021). May throw to abort: nothing is sent then. */
  beforeSend?: () => void;
  /** Called when a signed request went out, with the timestamp signed into it (exchange clock) and the local-clock instant after which the exchange can no longer accept it (timestamp - offset + recvWindow). */
  onSent?: (sent: { timestampMs: number; acceptableUntilLocalMs: number }) => void;
}


export interface CallSpec<S extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  params?: Params;
  signed: boolean;
  weight: number;
  /** Unfilled-order-count cost (1 for a new order, 2 for an OCO). */
  orders?: number;
  schema: S;
  isCancel?: boolean;
  /** Lets an endpoint turn a documented error body into a result (cancel-replace -2021/-2022). */
  acceptError?: (status: number, body: unknown) => z.infer<S> | undefined;
  hooks?: RequestHooks;
}

const DEFAULT_BAN_MS = 120_000;
/**
 * The smallest retryAfterMs the client ever reports. A BinanceError's retryAfterMs becomes the
 * activity failure's nextRetryDelay, and a zero nextRetryDelay ends Temporal's retries at once
 * (seen on the dev server: RETRY_STATE_TIMEOUT after attempt 1 of 10). A second also gives a
 * clock that just failed a resync (-1021) time to settle before the next attempt resyncs.
 */
const MIN_RETRY_AFTER_MS = 1000;

export class BinanceTransport {
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  private readonly signer: Signer | undefined;
  private readonly apiKey: string | undefined;
  private readonly recvWindow: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly budget: RateBudget;
  private offsetMs = 0;
  private synced = false;
  private syncing: Promise<{ offsetMs: number }> | undefined;
  private closed = false;
  /** One per pooled connection: requests past these wait here, not in the pool's queue. */
  private readonly sendSlots: Slots;

  constructor(opts: TransportOptions) {
    const url = new URL(opts.baseUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, '');
    this.sendSlots = new Slots(opts.connections ?? 8);
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Never trust a socket for the last second of the server's keep-alive window: a request
      // written to a socket the server is closing fails with an unknown outcome.
      keepAliveTimeoutThreshold: 1_000,
    });
    this.apiKey = opts.apiKey;
    if (opts.ed25519PrivateKeyPem !== undefined) this.signer = ed25519Signer(opts.ed25519PrivateKeyPem);
    else if (opts.apiSecret !== undefined) this.signer = hmacSigner(opts.apiSecret);
    const recvWindow = opts.recvWindow ?? 5000;
    if (!(recvWindow > 0 && recvWindow <= 60_000)) throw new Error(`recvWindow must be in (0, 60000], got ${recvWindow}`);
    this.recvWindow = recvWindow;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.logger = opts.logger;
    this.budget = new RateBudget({ now: () => Date.now() + this.offsetMs });
  }

  /**
   * Measures the offset between the exchange clock and ours, assuming the server read its clock
   * half way through the round trip. Signed requests add the offset to their timestamp.
   */
  syncTime(): Promise<{ offsetMs: number }> {
    if (this.syncing) return this.syncing;
    this.syncing = (async () => {
      try {
        // t0 is taken when the request really goes out, after any wait for a send slot or
        // rate budget: timed from before that wait, a loaded client over-estimated the round
        // trip and put the offset off by half the wait (1.5 s for a 3 s wait).
        let t0 = Date.now();
        const { serverTime: server } = await this.call({
          method: 'GET',
          path: '/api/v3/time',
          signed: false,
          weight: 1,
          schema: ServerTimeSchema,
          hooks: {
            beforeSend: () => {
              t0 = Date.now();
            },
          },
        });
        const t1 = Date.now();
        this.offsetMs = server - Math.round((t0 + t1) / 2);
        this.synced = true;
        this.logger?.debug({ offsetMs: this.offsetMs, rttMs: t1 - t0 }, 'binance time synced');
        return { offsetMs: this.offsetMs };
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  /** The rate limits exchangeInfo announces: the budget follows them from then on. */
  setLimits(limits: RateLimit[]): void {
    this.budget.setLimits(limits);
  }

  usage(): RateLimitUsage {
    return this.budget.usage();
  }

  /** Current estimate of exchange clock minus local clock. */
  timeOffsetMs(): number {
    return this.offsetMs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  // ---- the one request path ----

  async call<S extends z.ZodType>(spec: CallSpec<S>): Promise<z.infer<S>> {
    if (spec.signed && !this.synced) await this.syncTime();
    try {
      return await this.attempt(spec);
    } catch (e) {
      // -1021: our clock (or our offset) drifted. Re-measure once and try again; the request
      // was rejected before reaching the matching engine, so resending cannot duplicate it.
      if (spec.signed && isBinanceError(e) && e.code === -1021) {
        this.logger?.warn({ endpoint: e.endpoint, msg: e.msg }, 'binance -1021, resyncing time and retrying once');
        await this.syncTime();
        return this.attempt(spec);
      }
      throw e;
    }
  }

  private async attempt<S extends z.ZodType>(spec: CallSpec<S>): Promise<z.infer<S>> {
    const endpoint = `${spec.method} ${spec.path}`;
    if (this.closed) throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'client is closed', kind: 'retry_later', endpoint });
    this.refuseIfBanned(endpoint);
    const headers: Record<string, string> = {};
    if (spec.signed) {
      if (this.apiKey === undefined || this.signer === undefined) {
        throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'apiKey and a secret or private key are required for signed endpoints', kind: 'rejected', endpoint });
      }
      headers['X-MBX-APIKEY'] = this.apiKey;
    }
    // Reserve budget only once a connection is ours, so a request is counted in the window it
    // is sent in: reserved earlier, it could sit in the pool's queue past a window edge and land
    // in the next window on top of that window's own allowance (seen as 429s under bursts).
    await this.sendSlots.take();
    try {
      for (;;) {
        const waitUntil = this.budget.tryReserve(spec.weight, spec.orders ?? 0, spec.method === 'GET' ? 'read' : 'trade');
        if (waitUntil === 0) break;
        // Wait without holding a slot: requests another limit still admits go ahead meanwhile.
        this.sendSlots.release();
        await this.budget.sleepUntil(waitUntil);
        await this.sendSlots.take();
      }
      // The wait above may have spanned a ban that another request earned meanwhile.
      this.refuseIfBanned(endpoint);
      return await this.send(spec, endpoint, headers);
    } finally {
      this.sendSlots.release();
    }
  }

  private async send<S extends z.ZodType>(spec: CallSpec<S>, endpoint: string, headers: Record<string, string>): Promise<z.infer<S>> {
    // Every wait (send slot, rate budget, ban check) is behind us and nothing below awaits
    // before the request is handed to the socket: this is the last moment to refuse to send.
    spec.hooks?.beforeSend?.();
    let query = encodeParams(spec.params ?? {});
    let signed: { timestampMs: number; acceptableUntilLocalMs: number } | undefined;
    if (spec.signed && this.signer) {
      const localNow = Date.now();
      const timestampMs = localNow + this.offsetMs;
      signed = { timestampMs, acceptableUntilLocalMs: localNow + this.recvWindow };
      const auth = encodeParams({ recvWindow: this.recvWindow, timestamp: timestampMs });
      query = signQuery(query === '' ? auth : `${query}&${auth}`, this.signer);
    }
    const path = `${this.pathPrefix}${spec.path}${query === '' ? '' : `?${query}`}`;

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const sentAt = Date.now() + this.offsetMs;
    let status: number;
    let text: string;
    let resHeaders: Record<string, string | string[] | undefined>;
    try {
      const pending = this.pool.request({ method: spec.method, path, headers, signal: controller.signal });
      if (signed !== undefined) this.reportSent(spec.hooks, signed, endpoint);
      const res = await pending;
      status = res.statusCode;
      resHeaders = res.headers;
      text = await res.body.text();
    } catch (e) {
      const err = classifyTransportError(e, endpoint, timedOut);
      this.logger?.warn({ endpoint, kind: err.kind, err: err.msg }, 'binance request failed without a response');
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.budget.observeHeaders(resHeaders, sentAt);

    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = spec.schema.safeParse(json);
      if (parsed.success) {
        // A successful order request costs no weight since 2026-04-02 (rate-limit.ts).
        this.budget.refundWeight(spec.weight - weightWhenSuccessful(endpoint, spec.weight, parsed.data), sentAt);
        return parsed.data as z.infer<S>;
      }
      // The request succeeded on the exchange but we cannot read what it did: for an order
      // that is exactly an unknown outcome.
      const msg = `unreadable ${status} response: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
      this.logger?.error({ endpoint, body: text.slice(0, 500) }, 'binance response failed schema validation');
      throw new BinanceError({ httpStatus: status, code: undefined, msg, kind: 'unknown_outcome', endpoint });
    }
    if (spec.acceptError) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const accepted = spec.acceptError(status, body);
      if (accepted !== undefined) return accepted;
    }
    throw this.httpError(status, text, resHeaders, endpoint, spec.isCancel === true);
  }

  /** onSent is an observer: the request is on its way whatever it does, so its errors stay its own. */
  private reportSent(hooks: RequestHooks | undefined, sent: { timestampMs: number; acceptableUntilLocalMs: number }, endpoint: string): void {
    try {
      hooks?.onSent?.(sent);
    } catch (e) {
      this.logger?.warn({ endpoint, err: e instanceof Error ? e.message : String(e) }, 'onSent hook failed (ignored)');
    }
  }

  private refuseIfBanned(endpoint: string): void {
    const until = this.budget.bannedUntil;
    if (until === undefined) return;
    const left = until - Date.now();
    if (left <= 0) {
      this.budget.bannedUntil = undefined;
      return;
    }
    throw new BinanceError({
      httpStatus: undefined,
      code: undefined,
      msg: `IP banned by Binance (HTTP 418); not sending for another ${left} ms`,
      kind: 'banned',
      endpoint,
      retryAfterMs: left,
    });
  }

  private httpError(status: number, text: string, headers: Record<string, string | string[] | undefined>, endpoint: string, isCancel: boolean): BinanceError {
    let code: number | undefined;
    let msg = text.slice(0, 300) || `HTTP ${status}`;
    try {
      const body = ErrorBodySchema.safeParse(JSON.parse(text));
      if (body.success) {
        code = body.data.code;
        msg = body.data.msg;
      }
    } catch {
      // not JSON (a proxy or WAF page); keep the text
    }
    const kind = classifyHttpError({ httpStatus: status, code, msg, isCancel });
    const retryAfterRaw = headers['retry-after'];
    const retryAfterSec = Number(Array.isArray(retryAfterRaw) ? retryAfterRaw[0] : retryAfterRaw);
    // "Retry-After: 0" is floored too: see MIN_RETRY_AFTER_MS.
    let retryAfterMs = Number.isFinite(retryAfterSec) && retryAfterSec >= 0 ? Math.max(MIN_RETRY_AFTER_MS, retryAfterSec * 1000) : undefined;
    if (kind === 'banned') {
      retryAfterMs ??= DEFAULT_BAN_MS;
      this.budget.bannedUntil = Date.now() + retryAfterMs;
      this.logger?.error({ endpoint, retryAfterMs, msg }, 'binance banned this IP (418); refusing to send until it passes');
    } else if (kind === 'retry_later' && retryAfterMs === undefined) {
      // Including -1021 after the one resync: never 0, which Temporal reads as "stop retrying".
      retryAfterMs = MIN_RETRY_AFTER_MS;
    }
    if (status === 429) {
      // Back off every request, not just this one: more requests now are what earns a 418.
      this.budget.pauseUntil(Date.now() + this.offsetMs + (retryAfterMs ?? 1000));
      this.logger?.warn({ endpoint, retryAfterMs, code, msg }, 'binance 429; pausing requests');
    }
    return new BinanceError({ httpStatus: status, code, msg, kind, endpoint, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
}

/** A counting semaphore, first come first served. */
class Slots {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}

  take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
