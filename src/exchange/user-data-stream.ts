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
 *     dead (half-open) connection is torn down and reconnected.
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
  subscribed: (s: { subscriptionId: number; connection: number }) => void;
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
  logger?: Logger;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

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
  private readonly opts: Required<Pick<UserDataStreamOptions, 'heartbeatMs' | 'responseTimeoutMs' | 'backoffInitialMs' | 'backoffMaxMs'>> & UserDataStreamOptions;
  private readonly signPayload: (payload: string) => string;
  private ws: WebSocket | undefined;
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
  readonly stats = { reconnects: 0, gaps: 0, resubscribes: 0, events: 0 };

  constructor(opts: UserDataStreamOptions) {
    this.opts = { heartbeatMs: 15_000, responseTimeoutMs: 10_000, backoffInitialMs: 250, backoffMaxMs: 30_000, ...opts };
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
    this.stopHeartbeat();
    this.failPending(new Error('stream closed'));
    const ws = this.ws;
    this.ws = undefined;
    if (this.firstSubscribed) {
      this.firstSubscribed.reject(new Error('stream closed before subscribing'));
      this.firstSubscribed = undefined;
    }
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      });
    }
  }

  // ---- connection lifecycle ----

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.opts.wsUrl, { handshakeTimeout: this.opts.responseTimeoutMs });
    this.ws = ws;
    ws.on('open', () => {
      this.connections++;
      this.lastAliveAt = Date.now();
      this.subscribe(this.everSubscribed ? 'reconnected' : undefined).catch((err: unknown) => {
        this.warn('subscribe failed; reconnecting', err);
        ws.terminate();
      });
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onMessage(data.toString());
    });
    ws.on('pong', () => {
      this.lastAliveAt = Date.now();
    });
    ws.on('error', (err) => this.warn('websocket error', err));
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.subscriptionId = undefined;
      this.stopHeartbeat();
      this.failPending(new Error('connection closed'));
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.attempt++;
    this.stats.reconnects++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private async subscribe(gapReason: GapInfo['reason'] | undefined): Promise<void> {
    const params: Record<string, string | number> = { apiKey: this.opts.apiKey, timestamp: (this.opts.clock ?? Date.now)() };
    if (this.opts.recvWindow !== undefined) params.recvWindow = this.opts.recvWindow;
    const signature = this.signPayload(wsSignaturePayload(params));
    const result = z.object({ subscriptionId: z.number().int() }).parse(await this.request('userDataStream.subscribe.signature', { ...params, signature }));
    this.subscriptionId = result.subscriptionId;
    this.attempt = 0;
    const since = this.lastAliveAt;
    this.lastAliveAt = Date.now();
    this.emitter.emit('subscribed', { subscriptionId: result.subscriptionId, connection: this.connections });
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

  private request(method: string, params?: Record<string, unknown>): Promise<unknown> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
    const id = `uds-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, this.opts.responseTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
    });
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
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
    try {
      const subs = z.array(z.object({ subscriptionId: z.number().int() })).parse(await this.request('session.subscriptions', {}));
      if (this.ws !== ws) return;
      if (this.subscriptionId === undefined || !subs.some((s) => s.subscriptionId === this.subscriptionId)) {
        this.warn('subscription no longer active on a live connection; resubscribing');
        this.stats.resubscribes++;
        this.subscriptionId = undefined;
        await this.subscribe('subscription_lost');
      }
    } catch (err) {
      if (this.ws !== ws) return;
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

  private onMessage(text: string): void {
    this.lastAliveAt = Date.now();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.warn('unparseable frame', err);
      return;
    }
    const ev = EventFrameSchema.safeParse(json);
    if (ev.success) {
      this.onEvent(ev.data.subscriptionId, ev.data.event);
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

  private onEvent(subscriptionId: number | undefined, event: { e: string }): void {
    if (subscriptionId !== undefined && this.subscriptionId !== undefined && subscriptionId !== this.subscriptionId) return;
    this.stats.events++;
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
        this.subscribe('stream_terminated').catch((err: unknown) => {
          this.warn('resubscribe after eventStreamTerminated failed; reconnecting', err);
          this.ws?.terminate();
        });
        return;
      default:
        return;
    }
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
