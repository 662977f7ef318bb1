/**
 * User data stream over the WebSocket API (`userDataStream.subscribe.signature`).
 *
 * Events are delivered at most once and can be lost whenever the connection or subscription
 * is lost, so the stream never pretends to be complete: after every re-subscription it emits
 * 'gap' and the caller reconciles by REST (query the orders it cares about). It keeps itself
 * alive by:
 *   - reconnecting with exponential backoff and jitter when the socket closes;
 *   - a heartbeat: a ping frame that must be answered, and a `session.subscriptions` request
 *     that must still list our subscription; a silent (expired) subscription is re-made and a
 *     dead (half-open) connection is torn down and reconnected;
 *   - a handover on `serverShutdown` (WebSocket API, 2026-05; no fixed lead time since 2026-06):
 *     a second connection is opened and subscribed while the old one still delivers, and only
 *     then is the old one closed (gracefully, so frames it already sent still arrive). Every
 *     event from the moment the new subscription is active reaches both connections, and events
 *     from the old one keep being delivered until it closes, so nothing falls between them and
 *     no 'gap' is emitted. The copies the overlap produces are dropped (same event, same text).
 *     Only if the old connection dies before the new one is subscribed is that a 'gap'.
 */
import { EventEmitter } from 'node:events';
import { createHmac, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import WebSocket from 'ws';
import { z } from 'zod';
import type { Logger } from '../logging';
import { DecStr } from './schemas';

export const ExecutionReportSchema = z.object({
  e: z.literal('executionReport'),
  E: z.number().int(),
  s: z.string(),
  c: z.string(),
  S: z.enum(['BUY', 'SELL']),
  o: z.string(),
  f: z.string(),
  q: DecStr,
  p: DecStr,
  P: DecStr,
  F: DecStr,
  g: z.number().int(),
  C: z.string(),
  x: z.string(),
  X: z.string(),
  r: z.string(),
  i: z.number().int(),
  l: DecStr,
  z: DecStr,
  L: DecStr,
  n: DecStr,
  N: z.string().nullable(),
  T: z.number().int(),
  t: z.number().int(),
  I: z.number().int(),
  w: z.boolean(),
  m: z.boolean(),
  M: z.boolean(),
  O: z.number().int(),
  Z: DecStr,
  Y: DecStr,
  Q: DecStr,
  W: z.number().int().optional(),
  V: z.string().optional(),
  eR: z.string().optional(),
});
/** Binance's executionReport, field names exactly as sent (see user-data-stream.md). */
export type ExecutionReport = z.infer<typeof ExecutionReportSchema>;

export const ListStatusEventSchema = z.object({
  e: z.literal('listStatus'),
  E: z.number().int(),
  s: z.string(),
  g: z.number().int(),
  c: z.string(),
  l: z.string(),
  L: z.string(),
  r: z.string(),
  C: z.string(),
  T: z.number().int(),
  O: z.array(z.object({ s: z.string(), i: z.number().int(), c: z.string() })),
});
export type ListStatusEvent = z.infer<typeof ListStatusEventSchema>;

export const AccountPositionSchema = z.object({
  e: z.literal('outboundAccountPosition'),
  E: z.number().int(),
  u: z.number().int(),
  B: z.array(z.object({ a: z.string(), f: DecStr, l: DecStr })),
});
export type AccountPosition = z.infer<typeof AccountPositionSchema>;

const ResponseSchema = z.object({
  id: z.union([z.string(), z.number(), z.null()]),
  status: z.number().int(),
  result: z.unknown().optional(),
  error: z.object({ code: z.number().int(), msg: z.string() }).optional(),
});
const EventFrameSchema = z.object({ subscriptionId: z.number().int().optional(), event: z.looseObject({ e: z.string() }) });
/** web-socket-api.md "Connection events": the server is about to shut down this connection. */
export const ServerShutdownEventSchema = z.object({ e: z.literal('serverShutdown'), E: z.number().int() });

export interface GapInfo {
  /** Why events may have been missed. */
  reason: 'reconnected' | 'subscription_lost' | 'stream_terminated';
  /** Last moment (local ms) we know events were flowing; events after it may be missing. */
  since: number;
  /** When the new subscription became active. */
  resumedAt: number;
}

export interface UserDataStreamEvents {
  executionReport: (e: ExecutionReport) => void;
  listStatus: (e: ListStatusEvent) => void;
  accountPosition: (e: AccountPosition) => void;
  /** Subscribed again after a loss: reconcile by REST now. */
  gap: (g: GapInfo) => void;
  /**
   * A subscription began without continuity with what came before (the first one, or one after
   * a loss, which is followed by 'gap'). A seamless handover emits 'handover' instead.
   */
  subscribed: (s: { subscriptionId: number; connection: number }) => void;
  /** `serverShutdown` handled with no gap: the new connection is subscribed, the old one is being closed. */
  handover: (h: { subscriptionId: number; connection: number; noticeAt: number; overlapStartedAt: number }) => void;
  /** Problems that the stream handles itself (reconnecting); for logs and metrics. */
  warning: (w: { msg: string; err?: unknown }) => void;
}

export interface UserDataStreamOptions {
  /** ws://host:port/ws-api/v3 */
  wsUrl: string;
  apiKey: string;
  apiSecret?: string;
  ed25519PrivateKeyPem?: string;
  recvWindow?: number;
  /** Exchange clock for the subscription timestamp, e.g. () => Date.now() + client.timeOffsetMs(). */
  clock?: () => number;
  /** Heartbeat interval, default 15000 ms. */
  heartbeatMs?: number;
  /** How long a ping or a heartbeat request may go unanswered, default 10000 ms. */
  responseTimeoutMs?: number;
  /** Reconnect backoff: first delay, default 250 ms; cap, default 30000 ms. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * After `serverShutdown`, how long the new connection's copies of events already delivered by
   * the old one are still recognised once the old one has closed, default 5000 ms.
   */
  dedupeGraceMs?: number;
  logger?: Logger;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** The connection the request went out on: only its loss fails the request. */
  ws: WebSocket;
}

/** Most event texts kept for recognising the overlap's duplicates (a bound, not a window). */
const DEDUPE_MAX_KEYS = 100_000;

export class WsApiError extends Error {
  constructor(readonly status: number, readonly code: number | undefined, readonly msg: string) {
    super(`ws-api ${status} ${code ?? ''} ${msg}`);
    this.name = 'WsApiError';
  }
}

/** The WebSocket API signature payload: params sorted by name, `k=v&...`, not percent-encoded. */
export function wsSignaturePayload(params: Record<string, string | number>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${k}=${String(params[k])}`)
    .join('&');
}

export class UserDataStream {
  private readonly emitter = new EventEmitter();
  private readonly opts: Required<Pick<UserDataStreamOptions, 'heartbeatMs' | 'responseTimeoutMs' | 'backoffInitialMs' | 'backoffMaxMs' | 'dedupeGraceMs'>> & UserDataStreamOptions;
  private readonly signPayload: (payload: string) => string;
  /** The connection whose subscription is ours (heartbeat, requests, 'subscribed'). */
  private ws: WebSocket | undefined;
  /** After serverShutdown: the replacement being opened and subscribed. */
  private successor: { ws: WebSocket; noticeAt: number; overlapStartedAt: number } | undefined;
  /** After a handover: the old connection, still delivering until its close completes. */
  private retiring: { ws: WebSocket; subscriptionId: number | undefined } | undefined;
  /** Connections the server announced serverShutdown on. */
  private readonly shuttingDown = new WeakSet<WebSocket>();
  private successorRetry: NodeJS.Timeout | undefined;
  private successorAttempt = 0;
  /** Event texts seen since a handover began; undefined outside one (see onEvent). */
  private dedupe: { seen: Set<string>; until: number | undefined } | undefined;
  private pending = new Map<string, Pending>();
  private nextId = 1;
  private subscriptionId: number | undefined;
  private connections = 0;
  private attempt = 0;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastAliveAt = Date.now();
  private everSubscribed = false;
  private pendingGap: GapInfo['reason'] | undefined;
  private firstSubscribed: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly stats = { reconnects: 0, gaps: 0, resubscribes: 0, events: 0, serverShutdowns: 0, handovers: 0, duplicates: 0 };

  constructor(opts: UserDataStreamOptions) {
    this.opts = { heartbeatMs: 15_000, responseTimeoutMs: 10_000, backoffInitialMs: 250, backoffMaxMs: 30_000, dedupeGraceMs: 5_000, ...opts };
    if (opts.ed25519PrivateKeyPem !== undefined) {
      const key = createPrivateKey(opts.ed25519PrivateKeyPem);
      this.signPayload = (p) => cryptoSign(null, Buffer.from(p, 'utf8'), key).toString('base64');
    } else if (opts.apiSecret !== undefined) {
      const secret = opts.apiSecret;
      this.signPayload = (p) => createHmac('sha256', secret).update(p, 'utf8').digest('hex');
    } else {
      throw new Error('UserDataStream needs apiSecret or ed25519PrivateKeyPem');
    }
    // Without a listener EventEmitter throws on 'error'; we never emit it, warnings go to 'warning'.
    this.emitter.on('warning', (w: { msg: string; err?: unknown }) => this.opts.logger?.warn({ err: w.err }, w.msg));
  }

  on<K extends keyof UserDataStreamEvents>(event: K, listener: UserDataStreamEvents[K]): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof UserDataStreamEvents>(event: K, listener: UserDataStreamEvents[K]): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Connects and subscribes; resolves once the first subscription is active. Keeps retrying until then. */
  start(): Promise<void> {
    if (this.firstSubscribed || this.everSubscribed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.firstSubscribed = { resolve, reject };
      this.connect();
    });
  }

  state(): { connected: boolean; subscriptionId: number | undefined; connections: number; lastAliveAt: number } {
    return { connected: this.ws?.readyState === WebSocket.OPEN, subscriptionId: this.subscriptionId, connections: this.connections, lastAliveAt: this.lastAliveAt };
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.successorRetry) clearTimeout(this.successorRetry);
    this.stopHeartbeat();
    this.failPending(new Error('stream closed'));
    const sockets = [this.ws, this.successor?.ws, this.retiring?.ws];
    this.ws = undefined;
    this.successor = undefined;
    this.retiring = undefined;
    this.dedupe = undefined;
    if (this.firstSubscribed) {
      this.firstSubscribed.reject(new Error('stream closed before subscribing'));
      this.firstSubscribed = undefined;
    }
    await Promise.all(
      sockets.map(async (ws) => {
        if (!ws || ws.readyState === WebSocket.CLOSED) return;
        await new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.terminate();
        });
      }),
    );
  }

  // ---- connection lifecycle ----

  private connect(): void {
    if (this.stopped) return;
    const ws = this.openSocket();
    this.ws = ws;
    ws.on('open', () => {
      this.connections++;
      this.lastAliveAt = Date.now();
      this.subscribe(ws, this.everSubscribed ? 'reconnected' : undefined).catch((err: unknown) => {
        this.warn('subscribe failed; reconnecting', err);
        ws.terminate();
      });
    });
  }

  /** A socket with the handlers every connection shares; what it is for is decided by the caller. */
  private openSocket(): WebSocket {
    const ws = new WebSocket(this.opts.wsUrl, { handshakeTimeout: this.opts.responseTimeoutMs });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onMessage(ws, data.toString());
    });
    ws.on('pong', () => {
      if (ws === this.ws) this.lastAliveAt = Date.now();
    });
    ws.on('error', (err) => this.warn('websocket error', err));
    ws.on('close', () => this.onClose(ws));
    return ws;
  }

  private onClose(ws: WebSocket): void {
    this.failPending(new Error('connection closed'), ws);
    if (this.retiring?.ws === ws) {
      // The handover is complete: the new connection's late copies are still recognised a while.
      this.retiring = undefined;
      if (this.dedupe) this.dedupe.until = Date.now() + this.opts.dedupeGraceMs;
      return;
    }
    if (this.successor?.ws === ws) {
      this.successor = undefined;
      if (this.stopped) return;
      if (this.ws) this.retrySuccessor();
      else this.scheduleReconnect(); // both gone: an ordinary reconnect (pendingGap is set)
      return;
    }
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.subscriptionId = undefined;
    this.stopHeartbeat();
    if (this.stopped) return;
    if (this.successor) {
      // Closed before the replacement was subscribed: events in between may be lost. The
      // replacement being set up takes over, and reports the gap once subscribed.
      this.pendingGap = 'reconnected';
      return;
    }
    this.scheduleReconnect();
  }

  // ---- serverShutdown: make a new connection before letting go of the old one ----

  private beginHandover(from: WebSocket, noticeAt: number): void {
    if (this.stopped || this.successor || this.ws !== from) return;
    this.dedupe ??= { seen: new Set(), until: undefined };
    this.dedupe.until = undefined;
    const ws = this.openSocket();
    this.successor = { ws, noticeAt, overlapStartedAt: Date.now() };
    ws.on('open', () => {
      this.connections++;
      this.subscribeOn(ws).then(
        (subscriptionId) => this.completeHandover(ws, subscriptionId),
        (err: unknown) => {
          this.warn('subscribing the replacement connection after serverShutdown failed; retrying', err);
          ws.terminate();
        },
      );
    });
  }

  /** The replacement could not be made while the old connection still works: try again. */
  private retrySuccessor(): void {
    const from = this.ws;
    if (!from || this.successorRetry) return;
    const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.successorAttempt++);
    this.successorRetry = setTimeout(() => {
      this.successorRetry = undefined;
      if (this.ws === from && from.readyState === WebSocket.OPEN) this.beginHandover(from, Date.now());
    }, delay);
  }

  private completeHandover(ws: WebSocket, subscriptionId: number): void {
    const successor = this.successor;
    if (this.stopped || successor?.ws !== ws) {
      ws.terminate();
      return;
    }
    this.successor = undefined;
    this.successorAttempt = 0;
    const old = this.ws;
    if (old && old.readyState === WebSocket.OPEN) {
      // Only now is the old connection let go. A graceful close: the frames it already sent are
      // still read (and delivered) before its close frame; terminate only if that never comes.
      this.retiring = { ws: old, subscriptionId: this.subscriptionId };
      old.close(1000, 'handed over after serverShutdown');
      setTimeout(() => old.terminate(), this.opts.responseTimeoutMs).unref();
    } else if (this.dedupe) {
      // The old connection is already gone: only copies already in flight can still repeat.
      this.dedupe.until = Date.now() + this.opts.dedupeGraceMs;
    }
    const seamless = this.retiring?.ws === old && old !== undefined;
    this.ws = ws;
    // Not seamless: the old connection died first, and activate() reports the gap it left.
    this.activate(subscriptionId, undefined, seamless);
    if (seamless) {
      this.stats.handovers++;
      this.emitter.emit('handover', { subscriptionId, connection: this.connections, noticeAt: successor.noticeAt, overlapStartedAt: successor.overlapStartedAt });
    }
    // The replacement itself was announced for shutdown while being set up: hand over again.
    if (this.shuttingDown.has(ws)) this.beginHandover(ws, Date.now());
  }

  private scheduleReconnect(): void {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.attempt++;
    this.stats.reconnects++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Subscribes on the primary connection `ws`. */
  private async subscribe(ws: WebSocket, gapReason: GapInfo['reason'] | undefined): Promise<void> {
    const subscriptionId = await this.subscribeOn(ws);
    // Replaced meanwhile (a handover completed, or the connection was lost): not ours to activate.
    if (this.ws !== ws) return;
    this.activate(subscriptionId, gapReason);
  }

  private async subscribeOn(ws: WebSocket): Promise<number> {
    const params: Record<string, string | number> = { apiKey: this.opts.apiKey, timestamp: (this.opts.clock ?? Date.now)() };
    if (this.opts.recvWindow !== undefined) params.recvWindow = this.opts.recvWindow;
    const signature = this.signPayload(wsSignaturePayload(params));
    const result = z.object({ subscriptionId: z.number().int() }).parse(await this.request('userDataStream.subscribe.signature', { ...params, signature }, ws));
    return result.subscriptionId;
  }

  /**
   * `subscriptionId` on the primary connection is active: heartbeat, and 'subscribed' and a gap
   * if one is owed. `seamless`: a handover whose old connection still delivers, no 'subscribed'.
   */
  private activate(subscriptionId: number, gapReason: GapInfo['reason'] | undefined, seamless = false): void {
    this.subscriptionId = subscriptionId;
    this.attempt = 0;
    const since = this.lastAliveAt;
    this.lastAliveAt = Date.now();
    if (!seamless) this.emitter.emit('subscribed', { subscriptionId, connection: this.connections });
    this.startHeartbeat();
    const reason = gapReason ?? this.pendingGap;
    this.pendingGap = undefined;
    if (this.everSubscribed && reason !== undefined) {
      this.stats.gaps++;
      this.emitter.emit('gap', { reason, since, resumedAt: Date.now() } satisfies GapInfo);
    }
    this.everSubscribed = true;
    if (this.firstSubscribed) {
      this.firstSubscribed.resolve();
      this.firstSubscribed = undefined;
    }
  }

  private request(method: string, params?: Record<string, unknown>, ws: WebSocket | undefined = this.ws): Promise<unknown> {
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
    const id = `uds-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, this.opts.responseTimeoutMs);
      this.pending.set(id, { resolve, reject, timer, ws });
      ws.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
    });
  }

  /** Fails the requests sent on `ws` (all of them without it). */
  private failPending(err: Error, ws?: WebSocket): void {
    for (const [id, p] of this.pending) {
      if (ws !== undefined && p.ws !== ws) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  // ---- heartbeat: dead connections and silent subscriptions ----

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => void this.beat(), this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private async beat(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const pingSentAt = Date.now();
    ws.ping();
    let resubscribing = false;
    try {
      const subs = z.array(z.object({ subscriptionId: z.number().int() })).parse(await this.request('session.subscriptions', {}, ws));
      if (this.ws !== ws) return;
      if (this.subscriptionId === undefined || !subs.some((s) => s.subscriptionId === this.subscriptionId)) {
        this.warn('subscription no longer active on a live connection; resubscribing');
        this.stats.resubscribes++;
        this.subscriptionId = undefined;
        resubscribing = true;
        await this.subscribe(ws, 'subscription_lost');
      }
    } catch (err) {
      if (this.ws !== ws) return;
      if (resubscribing && err instanceof WsApiError) {
        // The server answered and refused to subscribe again on this connection (e.g. -2042
        // MAXIMUM_SUBSCRIPTION_IDS): a new connection can; waiting on this one never will.
        this.warn(`resubscribe refused (${err.code ?? err.status} ${err.msg}); reconnecting`, err);
        ws.terminate();
        return;
      }
      // No answer (or no pong) within the timeout: treat the connection as dead.
      if (this.lastAliveAt < pingSentAt) {
        this.warn('heartbeat unanswered; dropping the connection', err);
        ws.terminate();
      } else {
        this.warn('heartbeat request failed', err);
      }
    }
  }

  // ---- frames ----

  private onMessage(ws: WebSocket, text: string): void {
    if (ws === this.ws) this.lastAliveAt = Date.now();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.warn('unparseable frame', err);
      return;
    }
    const ev = EventFrameSchema.safeParse(json);
    if (ev.success) {
      this.onEvent(ws, ev.data.subscriptionId, ev.data.event);
      return;
    }
    const res = ResponseSchema.safeParse(json);
    if (!res.success || typeof res.data.id !== 'string') return;
    const p = this.pending.get(res.data.id);
    if (!p) return;
    this.pending.delete(res.data.id);
    clearTimeout(p.timer);
    if (res.data.status === 200) p.resolve(res.data.result);
    else p.reject(new WsApiError(res.data.status, res.data.error?.code, res.data.error?.msg ?? 'unknown error'));
  }

  private onEvent(ws: WebSocket, subscriptionId: number | undefined, event: { e: string }): void {
    if (event.e === 'serverShutdown') {
      // A connection event, not a subscription's: it carries no subscriptionId.
      const notice = ServerShutdownEventSchema.safeParse(event);
      this.shuttingDown.add(ws);
      this.stats.serverShutdowns++;
      this.warn(`serverShutdown received (E=${notice.success ? notice.data.E : '?'}); opening a replacement connection`);
      this.beginHandover(ws, Date.now());
      return;
    }
    // Which subscription this connection carries for us: the primary's, the retiring one's, or
    // (a replacement whose subscribe answer is still being processed) not known yet.
    let expected: number | undefined;
    if (ws === this.ws) expected = this.subscriptionId;
    else if (ws === this.retiring?.ws) expected = this.retiring.subscriptionId;
    else if (ws !== this.successor?.ws) return; // a connection we have already let go of
    if (subscriptionId !== undefined && expected !== undefined && subscriptionId !== expected) return;
    if (this.isDuplicate(event)) {
      this.stats.duplicates++;
      return;
    }
    this.stats.events++;
    if (ws !== this.ws && event.e === 'eventStreamTerminated') return; // the old connection's end, expected
    switch (event.e) {
      case 'executionReport':
        return this.emitParsed('executionReport', ExecutionReportSchema, event);
      case 'listStatus':
        return this.emitParsed('listStatus', ListStatusEventSchema, event);
      case 'outboundAccountPosition':
        return this.emitParsed('accountPosition', AccountPositionSchema, event);
      case 'eventStreamTerminated':
        // The subscription ended; make a new one and tell the caller events may be missing.
        this.subscriptionId = undefined;
        this.pendingGap = 'stream_terminated';
        this.subscribe(ws, 'stream_terminated').catch((err: unknown) => {
          this.warn('resubscribe after eventStreamTerminated failed; reconnecting', err);
          ws.terminate();
        });
        return;
      default:
        return;
    }
  }

  /**
   * During and shortly after a handover the same event arrives on both connections. Binance
   * fans one event out to every subscription, so the two frames carry the same event text;
   * outside a handover nothing is kept or compared.
   */
  private isDuplicate(event: { e: string }): boolean {
    const d = this.dedupe;
    if (!d) return false;
    if (d.until !== undefined && Date.now() > d.until) {
      this.dedupe = undefined;
      return false;
    }
    const key = JSON.stringify(event);
    if (d.seen.has(key)) return true;
    if (d.seen.size >= DEDUPE_MAX_KEYS) {
      const oldest = d.seen.values().next();
      if (!oldest.done) d.seen.delete(oldest.value);
    }
    d.seen.add(key);
    return false;
  }

  private emitParsed<K extends 'executionReport' | 'listStatus' | 'accountPosition'>(name: K, schema: z.ZodType, event: unknown): void {
    const r = schema.safeParse(event);
    if (!r.success) {
      // An event we cannot read is an event we missed: make the caller reconcile.
      this.warn(`unreadable ${name} event: ${r.error.message}`);
      this.stats.gaps++;
      this.emitter.emit('gap', { reason: 'subscription_lost', since: this.lastAliveAt, resumedAt: Date.now() } satisfies GapInfo);
      return;
    }
    this.emitter.emit(name, r.data);
  }

  private warn(msg: string, err?: unknown): void {
    this.emitter.emit('warning', { msg, err });
  }
}
