/**
 * HTTP front of the paper exchange: one request pipeline (faults, weight, auth, handler,
 * headers) in front of the routes, plus a small admin API for faults and state.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../logging';
import type { RateLimit } from '../exchange/schemas';
import { dec } from '../shared/decimal';
import { checkRecvWindowAtMatching, checkTimestamp, verifySignature } from './auth';
import type { Engine } from './engine';
import { FaultInputSchema, FillInputSchema, type Fault, type FaultInjector } from './faults';
import { freeWhenSuccessful, type Limiter } from './limits';
import { Params } from './params';
import { buildRoutes, type Ctx, type Route } from './routes';
import { ApiError, MSG } from './wire';
import { wsControlsOf } from './ws-api';

const JSON_TYPE = 'application/json;charset=UTF-8';
const MAX_BODY = 64 * 1024;

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export interface ServerDeps {
  engine: Engine;
  limiter: Limiter;
  faults: FaultInjector;
  rateLimits: RateLimit[];
  now: () => number;
  logger: Logger | undefined;
  /** Admin hook for extra state in GET /admin/state. */
  state: () => unknown;
  ledger: () => unknown;
  /** When set, every /admin/* request must carry `Authorization: Bearer <adminToken>`. */
  adminToken?: string | undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, -1000, 'Request body too large.'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a request came to: a response to write, or a connection to drop; and whether its handler ran. */
type Outcome = { kind: 'reply'; reply: Reply; executed: boolean } | { kind: 'drop'; executed: boolean };

/** A request that passed the receipt checks and waits for the matching engine. */
interface Ready {
  kind: 'ready';
  ctx: Ctx;
  headers: Record<string, string>;
  micros: boolean;
  /** The weight charged at receipt, to whom and when: a successful order request gets it back. */
  charged: { ip: string; weight: number; at: number };
}

/** The first fault of a kind, typed. */
function pick<K extends Fault['kind']>(faults: Fault[], kind: K): Extract<Fault, { kind: K }> | undefined {
  return faults.find((f): f is Extract<Fault, { kind: K }> => f.kind === kind);
}

/** What a load balancer in front of a down exchange answers: not Binance's JSON, no code. */
const OUTAGE_PAGE = '<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>';

function landingOutcome(o: Outcome): { executed: boolean; status: number; code?: number } {
  if (o.kind === 'drop') return { executed: o.executed, status: 0 };
  let code: number | undefined;
  try {
    const body = JSON.parse(o.reply.body) as { code?: unknown };
    if (typeof body.code === 'number') code = body.code;
  } catch {
    // not JSON
  }
  return { executed: o.executed, status: o.reply.status, ...(code === undefined ? {} : { code }) };
}

export class PaperHttp {
  readonly server: Server;
  private readonly routes: Map<string, Route> = buildRoutes();
  /** `METHOD /path` of each route, for the weight rules that name endpoints (limits.ts). */
  private readonly routeKeys = new Map<Route, string>([...this.routes].map(([key, route]) => [route, key]));
  private readonly sockets = new Set<Socket>();
  /** Requests served per `METHOD /path`, for measuring what a workflow costs the exchange. */
  readonly requestCounts = new Map<string, number>();

  constructor(private readonly d: ServerDeps) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        d.logger?.error({ err: e }, 'paper exchange handler crashed');
        if (!res.headersSent) this.send(res, { status: 500, body: JSON.stringify({ code: -1000, msg: 'An unknown error occurred while processing the request.' }), headers: {} });
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  destroySockets(): void {
    for (const s of this.sockets) s.destroy();
  }

  private send(res: ServerResponse, r: Reply): void {
    res.writeHead(r.status, { 'Content-Type': JSON_TYPE, ...r.headers });
    res.end(r.body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const qIndex = rawUrl.indexOf('?');
    const path = qIndex === -1 ? rawUrl : rawUrl.slice(0, qIndex);
    const rawQuery = qIndex === -1 ? '' : rawUrl.slice(qIndex + 1);
    let rawBody = '';
    try {
      rawBody = await readBody(req);
    } catch (e) {
      if (e instanceof ApiError) return this.send(res, { status: e.status, body: e.body(), headers: e.headers });
      return;
    }
    if (path.startsWith('/admin/')) return this.send(res, this.adminGate(req, method, path, rawBody));

    const route = this.routes.get(`${method} ${path}`);
    this.requestCounts.set(`${method} ${path}`, (this.requestCounts.get(`${method} ${path}`) ?? 0) + 1);
    if (!route) {
      return this.send(res, { status: 404, body: JSON.stringify({ code: -1000, msg: `Unknown endpoint ${method} ${path}.` }), headers: {} });
    }
    const faults = this.d.faults.take(method, path);
    const outage = pick(faults, 'outage');
    if (outage) {
      // Refused in front of the exchange: nothing is received, charged or executed.
      this.d.faults.hit(outage.id);
      if (outage.mode === 'dropConnection') return void req.socket.destroy();
      return this.send(res, { status: 503, body: OUTAGE_PAGE, headers: { 'Content-Type': 'text/html' } });
    }
    const latency = pick(faults, 'latency');
    if (latency) await sleep(latency.ms);

    const ip = req.socket.remoteAddress ?? 'unknown';
    const late = pick(faults, 'lateLanding');
    if (late) {
      const receivedAt = Date.now();
      req.socket.destroy();
      const rest = faults.filter((f) => f !== late);
      setTimeout(() => {
        const landedAt = Date.now();
        this.run(route, rawQuery, rawBody, req, ip, rest).then(
          (r) => this.d.faults.landings.push({ faultId: late.id, method, path, receivedAt, landedAt, ...landingOutcome(r) }),
          (e: unknown) => this.d.logger?.error({ err: e }, 'paper exchange late landing crashed'),
        );
      }, late.ms).unref();
      return;
    }
    const reply = await this.run(route, rawQuery, rawBody, req, ip, faults);
    if (reply.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    const delayed = pick(faults, 'delayedResponse');
    if (delayed) await sleep(delayed.ms);
    this.send(res, reply.reply);
  }

  /**
   * One request: the receipt checks, then (after a matchingDelay fault) Binance's third
   * recvWindow check and the handler, run synchronously so nothing else can interleave between
   * that check and the effect.
   */
  private async run(route: Route, rawQuery: string, rawBody: string, req: IncomingMessage, ip: string, faults: Fault[]): Promise<Outcome> {
    const received = this.receive(route, rawQuery, rawBody, req, ip, this.d.now(), faults);
    if (received.kind !== 'ready') return received;
    const delay = pick(faults, 'matchingDelay');
    if (delay) await sleep(delay.ms);
    return this.execute(route, received, faults);
  }

  /** Binance's checks at receipt: weight, parameters, API key, signature, timestamp, order count. */
  private receive(route: Route, rawQuery: string, rawBody: string, req: IncomingMessage, ip: string, now: number, faults: Fault[]): Outcome | Ready {
    const headers: Record<string, string> = {};
    try {
      const burst = pick(faults, 'rateLimit429');
      if (burst) {
        throw new ApiError(429, -1003, 'Too many requests queued.', { 'Retry-After': String(burst.retryAfterSec) });
      }
      let params: Params | undefined;
      let parseError: unknown;
      try {
        params = new Params(rawQuery, rawBody);
      } catch (e) {
        parseError = e;
      }
      const weight = params ? safeWeight(route, params) : 1;
      this.d.limiter.chargeWeight(ip, weight, now);
      Object.assign(headers, this.d.limiter.weightHeaders(ip, now));
      const pre = faults.find((f) => f.kind === 'errorCode' || ((f.kind === 'http5xx' || f.kind === 'timeout1007' || f.kind === 'dropConnection') && !f.afterPlaced));
      if (pre) return this.faultReply(pre, headers);
      if (!params) throw parseError;

      const micros = wantsMicroseconds(req.headers['x-mbx-time-unit']);
      const ctx: Ctx = { params, account: undefined, now, engine: this.d.engine, limiter: this.d.limiter, rateLimits: this.d.rateLimits };
      if (route.security !== 'NONE') {
        const key = req.headers['x-mbx-apikey'];
        if (typeof key !== 'string' || key === '') throw new ApiError(401, -2014, MSG.apiKeyFormat);
        const refused = pick(faults, 'invalidApiKey');
        if (refused && (refused.apiKey === undefined || refused.apiKey === key)) {
          this.d.faults.hit(refused.id);
          throw new ApiError(401, -2015, MSG.invalidApiKey);
        }
        const account = this.d.engine.accounts.get(key);
        if (!account) throw new ApiError(401, -2015, MSG.invalidApiKey);
        verifySignature(account, rawQuery, rawBody);
        checkTimestamp(params.str('timestamp'), params.str('recvWindow'), now);
        if (route.security === 'TRADE' && !account.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
        ctx.account = account;
        if (route.orders) this.d.limiter.chargeOrders(account.apiKey, route.orders, now);
      }
      return { kind: 'ready', ctx, headers, micros, charged: { ip, weight, at: now } };
    } catch (e) {
      return this.errorReply(e, headers, ip, now, faults);
    }
  }

  private execute(route: Route, r: Ready, faults: Fault[]): Outcome {
    const { ctx, headers } = r;
    const now = this.d.now();
    let reply: Reply;
    try {
      if (ctx.account && route.matchingEngine === true) {
        // The third check, just before the matching engine (a no-op unless time passed since receipt).
        checkRecvWindowAtMatching(ctx.params.str('timestamp'), ctx.params.str('recvWindow'), now);
      }
      ctx.now = now;
      const result = route.handler(ctx);
      if (freeWhenSuccessful(this.routeKeys.get(route) ?? '', result)) {
        this.d.limiter.refundWeight(r.charged.ip, r.charged.weight, r.charged.at);
        Object.assign(headers, this.d.limiter.weightHeaders(r.charged.ip, now));
      }
      if (route.orders && ctx.account) Object.assign(headers, this.d.limiter.orderHeaders(ctx.account.apiKey, now));
      reply = { status: 200, body: JSON.stringify(r.micros ? inMicroseconds(result) : result), headers };
    } catch (e) {
      return this.errorReply(e, headers, undefined, now, faults);
    }
    return this.afterPlaced(reply, headers, faults, true);
  }

  private errorReply(e: unknown, headers: Record<string, string>, ip: string | undefined, now: number, faults: Fault[]): Outcome {
    if (!(e instanceof ApiError)) throw e;
    if (Object.keys(headers).length === 0 && ip !== undefined) Object.assign(headers, this.d.limiter.weightHeaders(ip, now));
    return this.afterPlaced({ status: e.status, body: e.body(), headers: { ...headers, ...e.headers } }, headers, faults, false);
  }

  private afterPlaced(reply: Reply, headers: Record<string, string>, faults: Fault[], executed: boolean): Outcome {
    const post = faults.find((f) => (f.kind === 'http5xx' || f.kind === 'timeout1007' || f.kind === 'dropConnection') && f.afterPlaced);
    if (post) {
      const f = this.faultReply(post, headers);
      return f.kind === 'drop' ? { kind: 'drop', executed } : { ...f, executed };
    }
    return { kind: 'reply', reply, executed };
  }

  private faultReply(f: Fault, headers: Record<string, string>): Outcome {
    switch (f.kind) {
      case 'dropConnection':
        return { kind: 'drop', executed: false };
      case 'timeout1007':
        // Binance does not document the status that carries -1007; a 5xx makes every client treat it as unknown.
        return { kind: 'reply', reply: { status: 503, body: JSON.stringify({ code: -1007, msg: MSG.timeout1007 }), headers }, executed: false };
      case 'http5xx':
        return { kind: 'reply', reply: { status: f.status, body: JSON.stringify({ code: -1001, msg: MSG.internal1001 }), headers }, executed: false };
      case 'errorCode':
        return { kind: 'reply', reply: { status: f.status, body: JSON.stringify({ code: f.code, msg: f.msg }), headers }, executed: false };
      default:
        throw new Error(`not a response fault: ${f.kind}`);
    }
  }

  /** The admin API moves prices and breaks the exchange: with a token configured, only its holder may. */
  private adminGate(req: IncomingMessage, method: string, path: string, rawBody: string): Reply {
    const token = this.d.adminToken;
    if (token !== undefined && !adminTokenMatches(req.headers.authorization, token)) {
      return { status: 401, body: JSON.stringify({ error: 'admin token required: send Authorization: Bearer <PAPER_ADMIN_TOKEN>' }), headers: { 'WWW-Authenticate': 'Bearer' } };
    }
    return this.admin(method, path, rawBody);
  }

  /**
   * The admin API (JSON bodies; 400 {error} names what is wrong; 401 without the token when one
   * is configured):
   *   GET    /admin/faults   {faults, clockSkewMs, landings}   (timed faults carry expiresAt)
   *   POST   /admin/faults   a FaultInput (faults.ts) -> {id}
   *   DELETE /admin/faults   {id?} -> {cleared}   (no id: all)
   *   POST   /admin/price    {symbol, price}
   *   POST   /admin/fill     a FillInput (faults.ts) -> {symbol, orderId, clientOrderId, tradeId, price, qty, executedQty, status}
   *   GET    /admin/state    prices, open orders, counts, balances, faults, rate-limit stats
   *   POST   /admin/ws/server-shutdown  {closeAfterMs?} -> {connections}   (serverShutdown on every
   *          open WebSocket API connection, closed closeAfterMs later; see WsControls)
   */
  private admin(method: string, path: string, rawBody: string): Reply {
    const ok = (v: unknown): Reply => ({ status: 200, body: JSON.stringify(v), headers: {} });
    const bad = (msg: string): Reply => ({ status: 400, body: JSON.stringify({ error: msg }), headers: {} });
    let body: unknown = undefined;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        return bad('body must be JSON');
      }
    }
    if (path === '/admin/faults') {
      if (method === 'GET') return ok({ faults: this.d.faults.list(), clockSkewMs: this.d.faults.clockSkewMs, landings: this.d.faults.landings });
      if (method === 'POST') {
        const parsed = FaultInputSchema.safeParse(body);
        if (!parsed.success) return bad(parsed.error.message);
        return ok({ id: this.d.faults.inject(parsed.data) });
      }
      if (method === 'DELETE') {
        const id = z.object({ id: z.number().int().optional() }).safeParse(body ?? {});
        if (!id.success) return bad(id.error.message);
        this.d.faults.clear(id.data.id);
        return ok({ cleared: id.data.id ?? 'all' });
      }
    }
    if (path === '/admin/price' && method === 'POST') {
      const parsed = z.object({ symbol: z.string(), price: z.string().regex(/^\d+(\.\d+)?$/) }).safeParse(body);
      if (!parsed.success) return bad(parsed.error.message);
      try {
        this.d.engine.setPrice(parsed.data.symbol, dec(parsed.data.price));
      } catch (e) {
        return bad(e instanceof Error ? e.message : String(e));
      }
      return ok({ symbol: parsed.data.symbol, price: parsed.data.price });
    }
    if (path === '/admin/fill' && method === 'POST') {
      const parsed = FillInputSchema.safeParse(body);
      if (!parsed.success) return bad(parsed.error.message);
      try {
        return ok(this.d.engine.injectFill(parsed.data));
      } catch (e) {
        return bad(e instanceof Error ? e.message : String(e));
      }
    }
    if (path === '/admin/ws/server-shutdown' && method === 'POST') {
      const parsed = z.object({ closeAfterMs: z.number().int().min(0).max(600_000).optional() }).strict().safeParse(body ?? {});
      if (!parsed.success) return bad(parsed.error.message);
      const ws = wsControlsOf(this.server);
      if (!ws) return bad('no WebSocket API on this server');
      return ok(ws.serverShutdown(parsed.data.closeAfterMs === undefined ? {} : { closeAfterMs: parsed.data.closeAfterMs }));
    }
    if (path === '/admin/state' && method === 'GET') return ok(this.d.state());
    if (path === '/admin/ledger' && method === 'GET') return ok(this.d.ledger());
    return { status: 404, body: JSON.stringify({ error: `no admin route ${method} ${path}` }), headers: {} };
  }
}

/** JSON fields that carry a timestamp (Binance: "The time unit affects timestamp fields in JSON responses"). */
const TIME_FIELDS = new Set(['serverTime', 'transactTime', 'transactionTime', 'time', 'updateTime', 'workingTime']);

/** The X-MBX-TIME-UNIT request header: MILLISECOND (default) or MICROSECOND, either case; else -1194. */
function wantsMicroseconds(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const v = Array.isArray(header) ? header.join(',') : header;
  if (v === 'MICROSECOND' || v === 'microsecond') return true;
  if (v === 'MILLISECOND' || v === 'millisecond') return false;
  throw new ApiError(400, -1194, 'Invalid value for time unit; expected either MICROSECOND or MILLISECOND.');
}

function inMicroseconds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(inMicroseconds);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, TIME_FIELDS.has(k) && typeof x === 'number' ? x * 1000 : inMicroseconds(x)]));
}

/** A weight function may itself reject a parameter; the request still costs at least 1. */
function safeWeight(route: Route, p: Params): number {
  try {
    return route.weight(p);
  } catch {
    return 1;
  }
}

function adminTokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1] as string, 'utf8');
  const want = Buffer.from(token, 'utf8');
  return given.length === want.length && timingSafeEqual(given, want);
}
