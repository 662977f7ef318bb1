/**
 * HTTP front of the paper exchange: one request pipeline (faults, weight, auth, handler,
 * headers) in front of the routes, plus a small admin API for faults and state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../logging';
import type { RateLimit } from '../exchange/schemas';
import { dec } from '../shared/decimal';
import { checkTimestamp, verifySignature } from './auth';
import type { Engine } from './engine';
import { FaultInputSchema, type Fault, type FaultInjector } from './faults';
import type { Limiter } from './limits';
import { Params } from './params';
import { buildRoutes, type Ctx, type Route } from './routes';
import { ApiError, MSG } from './wire';

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

export class PaperHttp {
  readonly server: Server;
  private readonly routes: Map<string, Route> = buildRoutes();
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
    if (path.startsWith('/admin/')) return this.send(res, this.admin(method, path, rawBody));

    const route = this.routes.get(`${method} ${path}`);
    this.requestCounts.set(`${method} ${path}`, (this.requestCounts.get(`${method} ${path}`) ?? 0) + 1);
    if (!route) {
      return this.send(res, { status: 404, body: JSON.stringify({ code: -1000, msg: `Unknown endpoint ${method} ${path}.` }), headers: {} });
    }
    const faults = this.d.faults.take(method, path);
    const latency = faults.find((f) => f.kind === 'latency');
    if (latency && latency.kind === 'latency') await sleep(latency.ms);

    const ip = req.socket.remoteAddress ?? 'unknown';
    const now = this.d.now();
    const reply = this.process(route, rawQuery, rawBody, req, ip, now, faults);
    if (reply === 'drop') {
      req.socket.destroy();
      return;
    }
    this.send(res, reply);
  }

  /** Runs one request synchronously: nothing else can interleave between check and effect. */
  private process(route: Route, rawQuery: string, rawBody: string, req: IncomingMessage, ip: string, now: number, faults: Fault[]): Reply | 'drop' {
    const headers: Record<string, string> = {};
    let reply: Reply;
    try {
      const burst = faults.find((f) => f.kind === 'rateLimit429');
      if (burst && burst.kind === 'rateLimit429') {
        throw new ApiError(429, -1003, 'Too many requests queued.', { 'Retry-After': String(burst.retryAfterSec) });
      }
      let params: Params | undefined;
      let parseError: unknown;
      try {
        params = new Params(rawQuery, rawBody);
      } catch (e) {
        parseError = e;
      }
      this.d.limiter.chargeWeight(ip, params ? safeWeight(route, params) : 1, now);
      Object.assign(headers, this.d.limiter.weightHeaders(ip, now));
      const pre = faults.find((f) => (f.kind === 'http5xx' || f.kind === 'timeout1007' || f.kind === 'dropConnection') && !f.afterPlaced);
      if (pre) return this.faultReply(pre, headers);
      if (!params) throw parseError;

      const micros = wantsMicroseconds(req.headers['x-mbx-time-unit']);
      const ctx: Ctx = { params, account: undefined, now, engine: this.d.engine, limiter: this.d.limiter, rateLimits: this.d.rateLimits };
      if (route.security !== 'NONE') {
        const key = req.headers['x-mbx-apikey'];
        if (typeof key !== 'string' || key === '') throw new ApiError(401, -2014, MSG.apiKeyFormat);
        const account = this.d.engine.accounts.get(key);
        if (!account) throw new ApiError(401, -2015, MSG.invalidApiKey);
        verifySignature(account, rawQuery, rawBody);
        checkTimestamp(params.str('timestamp'), params.str('recvWindow'), now);
        if (route.security === 'TRADE' && !account.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
        ctx.account = account;
        if (route.orders) this.d.limiter.chargeOrders(account.apiKey, route.orders, now);
      }
      const result = route.handler(ctx);
      if (route.orders && ctx.account) Object.assign(headers, this.d.limiter.orderHeaders(ctx.account.apiKey, now));
      reply = { status: 200, body: JSON.stringify(micros ? inMicroseconds(result) : result), headers };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (Object.keys(headers).length === 0) Object.assign(headers, this.d.limiter.weightHeaders(ip, now));
      reply = { status: e.status, body: e.body(), headers: { ...headers, ...e.headers } };
    }
    const post = faults.find((f) => (f.kind === 'http5xx' || f.kind === 'timeout1007' || f.kind === 'dropConnection') && f.afterPlaced);
    if (post) return this.faultReply(post, headers);
    return reply;
  }

  private faultReply(f: Fault, headers: Record<string, string>): Reply | 'drop' {
    switch (f.kind) {
      case 'dropConnection':
        return 'drop';
      case 'timeout1007':
        // Binance does not document the status that carries -1007; a 5xx makes every client treat it as unknown.
        return { status: 503, body: JSON.stringify({ code: -1007, msg: MSG.timeout1007 }), headers };
      case 'http5xx':
        return { status: f.status, body: JSON.stringify({ code: -1001, msg: MSG.internal1001 }), headers };
      default:
        throw new Error(`not a response fault: ${f.kind}`);
    }
  }

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
      if (method === 'GET') return ok({ faults: this.d.faults.list(), clockSkewMs: this.d.faults.clockSkewMs });
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
    if (path === '/admin/state' && method === 'GET') return ok(this.d.state());
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
