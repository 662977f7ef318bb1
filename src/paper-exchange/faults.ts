/**
 * Fault injection for the paper exchange. Faults are matched per request (method/path) and
 * consumed (`times`, default 1). "afterPlaced" faults let the request run to completion (the
 * order really exists on the exchange) and only then replace or drop the response, which is
 * exactly the situation a retrying client must not turn into a second order.
 *
 * Two kinds are timed instead of counted (`outage`, `invalidApiKey`): they hold for `ms` from
 * the moment they are injected, for every matching request, because what they model (an
 * exchange down for two minutes, a key being rotated) is a span of time, not a number of
 * requests: a client that backs off sends fewer requests into it, not more.
 *
 * Every timing fault is measured on the real clock, never on the skewed exchange clock.
 */
import { z } from 'zod';

const Ms = z.number().int().nonnegative().max(600_000);

export const FaultSchema = z.discriminatedUnion('kind', [
  /** The request waits `ms` before the exchange even looks at it (receipt is late). */
  z.object({ kind: z.literal('latency'), ms: z.number().int().nonnegative().max(120_000) }),
  /** An HTTP 5xx. afterPlaced (default true): the request is executed first. */
  z.object({ kind: z.literal('http5xx'), status: z.number().int().min(500).max(599).default(500), afterPlaced: z.boolean().default(true) }),
  /** Binance's -1007 "Timeout waiting for response from backend server...", after executing by default. */
  z.object({ kind: z.literal('timeout1007'), afterPlaced: z.boolean().default(true) }),
  /** The TCP connection is destroyed without a response, after executing by default. */
  z.object({ kind: z.literal('dropConnection'), afterPlaced: z.boolean().default(true) }),
  /**
   * A refusal with the code and message given, without executing: for codes Binance adds after
   * a client was written (the client must not resend one blindly, nor wait on it for ever).
   */
  z.object({ kind: z.literal('errorCode'), status: z.number().int().min(400).max(499).default(400), code: z.number().int(), msg: z.string().min(1).max(200) }),
  /** HTTP 429 -1003 with Retry-After, without executing. Use `times` for a burst. */
  z.object({ kind: z.literal('rateLimit429'), retryAfterSec: z.number().int().nonnegative().default(1) }),
  /** Shifts the exchange clock by `ms` (positive = exchange ahead). Persistent until cleared. */
  z.object({ kind: z.literal('clockSkew'), ms: z.number().int() }),
  /**
   * The request is executed at once (an order really lands, with its fills), but its response
   * is held back `ms` before it is written. A client whose timeout is shorter gives up first
   * and sees an unknown outcome for an order that exists: the case it must settle by query,
   * never by a resend. Unlike `latency`, the order exists while the client is still waiting.
   */
  z.object({ kind: z.literal('delayedResponse'), ms: Ms }),
  /**
   * The connection is dropped at once without a response, and the request lands `ms` later,
   * as a request stuck in the exchange's front end would. At landing the exchange applies
   * Binance's timing rule with the landing time as serverTime (timestamp < serverTime + 1 s and
   * serverTime - timestamp <= recvWindow): inside the window it executes; past it, it is
   * rejected with -1021 and nothing is executed. The client therefore sees an unknown outcome
   * that may turn into an order up to recvWindow after it signed the request, which is why it
   * must wait out the recvWindow before concluding "absent". Outcomes: `landings`.
   */
  z.object({ kind: z.literal('lateLanding'), ms: Ms }),
  /**
   * Binance's third recvWindow check (CHANGELOG 2025-05-22, in force since 2025-08): just before
   * a request is forwarded to the matching engine, serverTime - timestamp <= recvWindow is
   * checked again. This fault delays that hand-over by `ms` after the receipt checks passed;
   * then a request whose timestamp + recvWindow has passed is rejected with -1021 "Timestamp for
   * this request is outside of the recvWindow." and, as Binance documents for this check, still
   * counts toward the unfilled order count. On endpoints not served by the matching engine it
   * only delays the response.
   */
  z.object({ kind: z.literal('matchingDelay'), ms: Ms }),
  /**
   * The exchange is down for `ms` from injection (timed, `times` does not apply): every
   * matching API request is refused before anything executes, with HTTP 503 and a load
   * balancer's HTML page (mode "http503") or by dropping the connection (mode
   * "dropConnection"). New WebSocket API connections are refused too; in "dropConnection" mode
   * the open ones are dropped when the outage starts. Admin paths are never affected.
   */
  z.object({ kind: z.literal('outage'), ms: Ms, mode: z.enum(['http503', 'dropConnection']).default('http503') }),
  /**
   * For `ms` from injection (timed, `times` does not apply), signed requests made with `apiKey`
   * (every key when omitted) answer HTTP 401 -2015 "Invalid API-key, IP, or permissions for
   * action." without executing, as during a key rotation or an IP whitelist change. Public
   * endpoints are unaffected, as on Binance; the WebSocket API's user data stream subscription
   * is refused the same way.
   */
  z.object({ kind: z.literal('invalidApiKey'), ms: Ms, apiKey: z.string().min(1).optional() }),
]);

const MatchSchema = z.object({
  /** HTTP method to match, e.g. "POST"; any when omitted. */
  method: z.string().optional(),
  /** Exact path to match, e.g. "/api/v3/order"; any when omitted. */
  path: z.string().optional(),
  /** How many matching requests this fault applies to; 0 = until cleared. Default 1. Not for timed faults. */
  times: z.number().int().nonnegative().default(1),
});

export const FaultInputSchema = z.intersection(FaultSchema, MatchSchema);
export type FaultInput = z.input<typeof FaultInputSchema>;
export type Fault = z.output<typeof FaultInputSchema> & {
  id: number;
  remaining: number;
  /** Timed faults: real-clock ms when the fault stops applying. */
  expiresAt?: number;
};

/** What became of a `lateLanding` request when it finally reached the exchange. */
export interface Landing {
  faultId: number;
  method: string;
  path: string;
  /** Real-clock ms the request was received (and its connection dropped). */
  receivedAt: number;
  /** Real-clock ms it reached the exchange's checks. */
  landedAt: number;
  /** True if it passed the checks and its handler ran (an order request placed its order). */
  executed: boolean;
  status: number;
  /** Binance error code when it did not execute (e.g. -1021 past its recvWindow). */
  code?: number;
}

const TIMED_KINDS: ReadonlySet<string> = new Set(['outage', 'invalidApiKey']);

export class FaultInjector {
  private faults: Fault[] = [];
  private nextId = 1;
  /** Requests each fault has hit, for tests to assert the fault really fired. */
  readonly hits = new Map<number, number>();
  /** Every `lateLanding` request's outcome, in landing order. */
  readonly landings: Landing[] = [];
  private readonly listeners: Array<(f: Fault) => void> = [];

  constructor(private readonly clock: () => number = Date.now) {}

  /** Adds a fault; returns its id. */
  inject(input: FaultInput): number {
    const parsed = FaultInputSchema.parse(input);
    const id = this.nextId++;
    const timed = TIMED_KINDS.has(parsed.kind);
    const fault: Fault = {
      ...parsed,
      id,
      remaining: timed || parsed.times === 0 ? Number.POSITIVE_INFINITY : parsed.times,
      ...(timed && 'ms' in parsed ? { expiresAt: this.clock() + parsed.ms } : {}),
    };
    this.faults.push(fault);
    for (const l of this.listeners) l({ ...fault });
    return id;
  }

  /** Called with each newly injected fault (the WebSocket API drops connections on an outage). */
  onInject(listener: (f: Fault) => void): void {
    this.listeners.push(listener);
  }

  clear(id?: number): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  list(): Fault[] {
    this.prune();
    return this.faults.map((f) => ({ ...f }));
  }

  get clockSkewMs(): number {
    return this.faults.reduce((acc, f) => (f.kind === 'clockSkew' ? acc + f.ms : acc), 0);
  }

  /** Counts a hit for a fault that applies only under a condition the caller checked. */
  hit(id: number): void {
    this.hits.set(id, (this.hits.get(id) ?? 0) + 1);
  }

  /**
   * Takes the faults (other than clock skew) that apply to this request, consuming the counted
   * ones. Timed faults are returned while they last and are not consumed; their hit is counted
   * by the caller when it applies them (an `invalidApiKey` for another key does not apply).
   */
  take(method: string, path: string): Fault[] {
    this.prune();
    const hit: Fault[] = [];
    const seenKinds = new Set<string>();
    for (const f of this.faults) {
      if (f.kind === 'clockSkew') continue;
      if (f.method !== undefined && f.method.toUpperCase() !== method) continue;
      if (f.path !== undefined && f.path !== path) continue;
      if (seenKinds.has(f.kind)) continue;
      seenKinds.add(f.kind);
      if (f.expiresAt === undefined) {
        f.remaining--;
        this.hit(f.id);
      }
      hit.push({ ...f });
    }
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return hit;
  }

  /** The outage in force now, if any (for the WebSocket API's upgrade check). */
  activeOutage(): (Fault & { kind: 'outage' }) | undefined {
    this.prune();
    return this.faults.find((f): f is Fault & { kind: 'outage' } => f.kind === 'outage' && f.path === undefined && f.method === undefined);
  }

  /** The `invalidApiKey` fault refusing this key now, if any. */
  refusedKey(apiKey: string): (Fault & { kind: 'invalidApiKey' }) | undefined {
    this.prune();
    return this.faults.find((f): f is Fault & { kind: 'invalidApiKey' } => f.kind === 'invalidApiKey' && (f.apiKey === undefined || f.apiKey === apiKey));
  }

  private prune(): void {
    const now = this.clock();
    this.faults = this.faults.filter((f) => f.expiresAt === undefined || f.expiresAt > now);
  }
}

const FillDecimal = z.string().regex(/^\d+(\.\d+)?$/, 'must be a plain decimal string such as "0.001"');

/**
 * POST /admin/fill: a counterparty trades `quantity` against a resting order now, at `price`
 * (default: the order's limit price; for an order without one, the last price). It is a real
 * maker fill: a trade in myTrades, balances moved, commission charged, and the executionReport
 * (x TRADE) and outboundAccountPosition on the user data stream, as when the price crosses.
 * It exists because a price move fills every resting order it crosses at once and a touch
 * fills a fixed amount; a test of a fill "between two client requests" needs an exact quantity
 * on exactly one order.
 */
export const FillInputSchema = z
  .object({
    symbol: z.string().min(1),
    orderId: z.number().int().positive().optional(),
    origClientOrderId: z.string().min(1).optional(),
    quantity: FillDecimal,
    price: FillDecimal.optional(),
    /** The order's account; default the first account holding a matching order. */
    apiKey: z.string().min(1).optional(),
  })
  .strict()
  .refine((f) => f.orderId !== undefined || f.origClientOrderId !== undefined, { message: 'orderId or origClientOrderId is required', path: ['orderId'] });
export type FillInput = z.infer<typeof FillInputSchema>;
