/**
 * The WebSocket API (ws://.../ws-api/v3) subset a user data stream needs:
 * `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`, `session.subscriptions`,
 * `ping` and `time`. Events are sent as {subscriptionId, event} text frames in Binance's format.
 * Test controls can drop connections, expire subscriptions silently or freeze a connection
 * (no events, no pongs), which are the failures a stream client must detect, and announce a
 * server shutdown (`serverShutdown`, then the connection closes after a while).
 */
import { createHmac, createPublicKey, timingSafeEqual, verify } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../logging';
import type { Account, Engine, ExecutionEvent, InternalOrder, OrderList } from './engine';
import { isOpen } from './engine';
import type { Limiter } from './limits';
import { fmt8 } from './market';
import { DEFAULT_STP_MODE, preventionReportFields } from './self-trade-prevention';
import { ZERO } from '../shared/decimal';
import { checkTimestamp } from './auth';
import { ApiError, CODE, MSG } from './wire';
import type { FaultInjector } from './faults';

export const WS_API_PATH = '/ws-api/v3';

interface Session {
  ws: WebSocket;
  ip: string;
  /** subscriptionId -> apiKey */
  subs: Map<number, string>;
  nextSubId: number;
  frozen: boolean;
  alive: boolean;
  /** serverShutdown was sent: the connection keeps serving until it is closed. */
  shuttingDown: boolean;
}

/** How long a connection lives after its serverShutdown unless told otherwise. */
export const DEFAULT_SHUTDOWN_CLOSE_MS = 3000;

export interface WsControls {
  /** Terminates every WebSocket connection (clients see a close). */
  dropConnections(): void;
  /** Removes every subscription without telling the client (a silent/expired subscription). */
  expireSubscriptions(): void;
  /** Frozen connections neither deliver events nor answer requests or pings (a half-open socket). */
  freeze(frozen: boolean): void;
  /**
   * Sends the `serverShutdown` connection event on every open connection (not yet shutting
   * down), keeps serving them (requests, events) and closes them `closeAfterMs` later (default
   * DEFAULT_SHUTDOWN_CLOSE_MS). Binance gives no fixed lead time (CHANGELOG 2026-06-09). New
   * connections are accepted meanwhile: the announcement is about these connections' server.
   * Returns how many connections were told.
   */
  serverShutdown(opts?: { closeAfterMs?: number }): { connections: number };
  /**
   * Subscription ids a connection may hand out (undefined: no limit, the default); past it a
   * subscribe answers -2042 "Maximum subscription ID reached for this connection." and only a
   * new connection can subscribe. Binance does not publish its limit.
   */
  limitSubscriptionIds(max: number | undefined): void;
  /** Open connections and active subscriptions. */
  stats(): { connections: number; subscriptions: number };
}

/** attachWsApi is handed the bare http.Server; the admin route finds its controls through it. */
const controlsByServer = new WeakMap<Server, WsControls>();
export function wsControlsOf(server: Server): WsControls | undefined {
  return controlsByServer.get(server);
}

function wsPayload(params: Record<string, unknown>): string {
  // WebSocket API: every param but signature, sorted by name, values as UTF-8 (not percent-encoded).
  return Object.keys(params)
    .filter((k) => k !== 'signature')
    .sort()
    .map((k) => `${k}=${String(params[k])}`)
    .join('&');
}

function verifyWs(acct: Account, params: Record<string, unknown>): void {
  const signature = params.signature;
  if (typeof signature !== 'string' || signature === '') {
    throw new ApiError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.");
  }
  const payload = Buffer.from(wsPayload(params), 'utf8');
  if (acct.config.ed25519PublicKeyPem !== undefined) {
    let ok = false;
    try {
      ok = verify(null, payload, createPublicKey(acct.config.ed25519PublicKeyPem), Buffer.from(signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) throw new ApiError(400, -1022, MSG.badSignature);
    return;
  }
  if (acct.config.apiSecret === undefined) throw new ApiError(401, -2015, MSG.invalidApiKey);
  const expected = createHmac('sha256', acct.config.apiSecret).update(payload).digest();
  const given = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new ApiError(400, -1022, MSG.badSignature);
}

export function executionReportJson(ev: ExecutionEvent, executionId: number = ev.executionId): Record<string, unknown> {
  const o = ev.order;
  const t = ev.trade;
  const canceled = ev.execType === 'CANCELED';
  const replaced = ev.execType === 'REPLACED';
  const onBook = isOpen(o) && o.isWorking && o.type !== 'MARKET';
  return {
    e: 'executionReport',
    E: ev.eventTime,
    s: o.symbol,
    c: canceled && ev.cancelClientOrderId !== undefined ? ev.cancelClientOrderId : o.clientOrderId,
    S: o.side,
    o: o.type,
    f: o.timeInForce,
    q: fmt8(o.origQty),
    p: fmt8(o.price),
    P: fmt8(o.stopPrice ?? ZERO),
    F: '0.00000000',
    g: o.orderListId,
    // C: the order's id before this event changed it (a cancel reports it there; so does an amend).
    C: canceled ? o.clientOrderId : replaced ? (ev.origClientOrderId ?? '') : '',
    x: ev.execType,
    X: o.status,
    r: 'NONE',
    i: o.orderId,
    l: t ? fmt8(t.qty) : '0.00000000',
    z: fmt8(o.executedQty),
    L: t ? fmt8(t.price) : '0.00000000',
    n: t ? fmt8(t.commission) : '0',
    N: t ? t.commissionAsset : null,
    T: t ? t.time : ev.eventTime,
    t: t ? t.id : -1,
    I: executionId,
    w: onBook,
    m: t ? t.isMaker : false,
    M: false,
    O: o.time,
    Z: fmt8(o.cummulativeQuoteQty),
    Y: t ? fmt8(t.quoteQty) : '0.00000000',
    Q: fmt8(o.origQuoteOrderQty),
    ...(o.isWorking ? { W: o.workingTime } : {}),
    V: o.selfTradePreventionMode ?? DEFAULT_STP_MODE,
    ...(o.status === 'EXPIRED' && o.expiryReason !== undefined ? { eR: o.expiryReason } : {}),
    // Self-trade prevention: the prevented match (v, A, B, U, Cs, pl, pL, pY; user-data-stream.md).
    ...preventionReportFields(o, ev.prevention),
  };
}

export function listStatusEventJson(list: OrderList, legs: InternalOrder[], eventTime: number): Record<string, unknown> {
  return {
    e: 'listStatus',
    E: eventTime,
    s: list.symbol,
    g: list.orderListId,
    c: list.contingencyType,
    l: list.listStatusType,
    L: list.listOrderStatus,
    r: 'NONE',
    C: list.listClientOrderId,
    T: list.transactionTime,
    O: legs.map((o) => ({ s: o.symbol, i: o.orderId, c: o.clientOrderId })),
  };
}

export function attachWsApi(
  server: Server,
  engine: Engine,
  limiter: Limiter,
  now: () => number,
  pingMs: number,
  logger: Logger | undefined,
  faults?: FaultInjector,
): WsControls & { close(): void } {
  const wss = new WebSocketServer({ noServer: true, autoPong: false });
  const sessions = new Set<Session>();
  let frozen = false;
  let maxSubscriptionIds: number | undefined;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_API_PATH && path !== '/ws-api/v3/') {
      socket.destroy();
      return;
    }
    const outage = faults?.activeOutage();
    if (outage) {
      // A down exchange takes no new connections either.
      faults?.hit(outage.id);
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const s: Session = { ws, ip: req.socket.remoteAddress ?? 'unknown', subs: new Map(), nextSubId: 0, frozen, alive: true, shuttingDown: false };
      sessions.add(s);
      ws.on('ping', (data: Buffer) => {
        if (!s.frozen) ws.pong(data);
      });
      ws.on('pong', () => {
        s.alive = true;
      });
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (s.frozen || isBinary) return;
        handle(s, data.toString());
      });
      ws.on('close', () => sessions.delete(s));
      ws.on('error', () => sessions.delete(s));
    });
  });

  const pinger = setInterval(() => {
    for (const s of sessions) {
      if (s.frozen) continue;
      if (!s.alive) {
        // No pong since the last ping: Binance disconnects after a minute; we use one interval.
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }, pingMs);
  pinger.unref();

  function reply(s: Session, id: unknown, status: number, body: { result: unknown } | { error: { code: number; msg: string } }): void {
    // As on Binance: the connection's IP's current usage of each weight limit (web-socket-api.md).
    const rateLimits = limiter.weightCounts(s.ip, now()).filter((l) => l.rateLimitType === 'REQUEST_WEIGHT');
    s.ws.send(JSON.stringify({ id, status, ...body, rateLimits }));
  }

  function handle(s: Session, text: string): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      reply(s, null, 400, { error: { code: -1135, msg: 'Invalid JSON Request' } });
      return;
    }
    const id = msg.id ?? null;
    const params = (typeof msg.params === 'object' && msg.params !== null ? msg.params : {}) as Record<string, unknown>;
    const method = typeof msg.method === 'string' ? msg.method.replace(/^v3\//, '') : '';
    try {
      limiter.chargeWeight(s.ip, method.startsWith('userDataStream') || method === 'session.subscriptions' ? 2 : 1, now());
      switch (method) {
        case 'ping':
          return reply(s, id, 200, { result: {} });
        case 'time':
          return reply(s, id, 200, { result: { serverTime: now() } });
        case 'session.subscriptions':
          return reply(s, id, 200, { result: [...s.subs.keys()].map((subscriptionId) => ({ subscriptionId })) });
        case 'userDataStream.subscribe.signature': {
          const apiKey = params.apiKey;
          if (typeof apiKey !== 'string' || apiKey === '') throw new ApiError(400, -1102, "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.");
          const refused = faults?.refusedKey(apiKey);
          if (refused) {
            faults?.hit(refused.id);
            throw new ApiError(401, -2015, MSG.invalidApiKey);
          }
          const acct = engine.accounts.get(apiKey);
          if (!acct) throw new ApiError(401, -2015, MSG.invalidApiKey);
          verifyWs(acct, params);
          checkTimestamp(params.timestamp === undefined ? undefined : String(params.timestamp), params.recvWindow === undefined ? undefined : String(params.recvWindow), now());
          if ([...s.subs.values()].includes(apiKey)) throw new ApiError(400, -2035, 'User Data Stream subscription already active.');
          if (maxSubscriptionIds !== undefined && s.nextSubId >= maxSubscriptionIds) throw new ApiError(400, CODE.maximumSubscriptionIds, MSG.maximumSubscriptionIds);
          const subscriptionId = s.nextSubId++;
          s.subs.set(subscriptionId, apiKey);
          return reply(s, id, 200, { result: { subscriptionId } });
        }
        case 'userDataStream.unsubscribe': {
          const sub = params.subscriptionId;
          const ids = typeof sub === 'number' ? [sub] : [...s.subs.keys()];
          if (typeof sub === 'number' && !s.subs.has(sub)) throw new ApiError(400, -2036, 'User Data Stream subscription not active.');
          for (const sid of ids) {
            s.subs.delete(sid);
            s.ws.send(JSON.stringify({ subscriptionId: sid, event: { e: 'eventStreamTerminated', E: now() } }));
          }
          return reply(s, id, 200, { result: {} });
        }
        default:
          throw new ApiError(400, -1020, 'This operation is not supported.');
      }
    } catch (e) {
      if (!(e instanceof ApiError)) {
        logger?.error({ err: e }, 'paper ws-api handler failed');
        return reply(s, id, 500, { error: { code: -1000, msg: 'An unknown error occurred while processing the request.' } });
      }
      return reply(s, id, e.status, { error: { code: e.code, msg: e.msg } });
    }
  }

  function publish(apiKey: string, event: Record<string, unknown>): void {
    const frames = new Map<Session, string[]>();
    for (const s of sessions) {
      if (s.frozen) continue;
      for (const [subscriptionId, key] of s.subs) {
        if (key !== apiKey) continue;
        const list = frames.get(s) ?? [];
        list.push(JSON.stringify({ subscriptionId, event }));
        frames.set(s, list);
      }
    }
    for (const [s, list] of frames) for (const f of list) s.ws.send(f);
  }

  function accountPosition(apiKey: string, assets: string[], eventTime: number): Record<string, unknown> {
    const acct = engine.accounts.get(apiKey);
    const B = assets.map((a) => {
      const b = acct?.balances.get(a);
      return { a, f: b ? fmt8(b.free) : '0.00000000', l: b ? fmt8(b.locked) : '0.00000000' };
    });
    return { e: 'outboundAccountPosition', E: eventTime, u: acct?.updateTime ?? eventTime, B };
  }

  engine.on('execution', (ev: ExecutionEvent) => {
    publish(ev.account, executionReportJson(ev));
    const def = engine.symbols.get(ev.order.symbol);
    if (def) {
      const assets = [def.baseAsset, def.quoteAsset];
      if (ev.trade && !assets.includes(ev.trade.commissionAsset)) assets.push(ev.trade.commissionAsset);
      publish(ev.account, accountPosition(ev.account, assets, ev.eventTime));
    }
  });
  engine.on('listStatus', (list: OrderList, legs: InternalOrder[]) => {
    publish(list.account, listStatusEventJson(list, legs, now()));
  });

  faults?.onInject((f) => {
    if (f.kind === 'outage' && f.mode === 'dropConnection' && f.path === undefined && f.method === undefined) {
      for (const s of sessions) s.ws.terminate();
    }
  });

  const shutdownTimers = new Set<NodeJS.Timeout>();
  function serverShutdown(opts: { closeAfterMs?: number } = {}): { connections: number } {
    const closeAfterMs = opts.closeAfterMs ?? DEFAULT_SHUTDOWN_CLOSE_MS;
    let told = 0;
    for (const s of sessions) {
      if (s.shuttingDown || s.frozen) continue;
      s.shuttingDown = true;
      told++;
      // A connection event: no subscriptionId (web-socket-api.md "Connection events").
      s.ws.send(JSON.stringify({ event: { e: 'serverShutdown', E: now() } }));
      const timer = setTimeout(() => {
        shutdownTimers.delete(timer);
        // 1001 "going away"; frames already queued go out before the close frame.
        s.ws.close(1001, 'server shutdown');
        const hard = setTimeout(() => s.ws.terminate(), 1000);
        hard.unref();
      }, closeAfterMs);
      timer.unref();
      shutdownTimers.add(timer);
    }
    return { connections: told };
  }

  const controls: WsControls & { close(): void } = {
    serverShutdown,
    limitSubscriptionIds: (max) => {
      maxSubscriptionIds = max;
    },
    dropConnections: () => {
      for (const s of sessions) s.ws.terminate();
    },
    expireSubscriptions: () => {
      for (const s of sessions) s.subs.clear();
    },
    freeze: (f) => {
      frozen = f;
      for (const s of sessions) s.frozen = f;
    },
    stats: () => ({ connections: sessions.size, subscriptions: [...sessions].reduce((a, s) => a + s.subs.size, 0) }),
    close: () => {
      clearInterval(pinger);
      for (const t of shutdownTimers) clearTimeout(t);
      shutdownTimers.clear();
      for (const s of sessions) s.ws.terminate();
      wss.close();
    },
  };
  controlsByServer.set(server, controls);
  return controls;
}
