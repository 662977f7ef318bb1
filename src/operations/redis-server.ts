/**
 * A redis-server (from PATH, or REDIS_SERVER_PATH) on a free loopback port, in its own process
 * group (child-process.ts), in one of two modes:
 *
 *  - fast (tests, the default): nothing on disk (`save ""`, `appendonly no`);
 *  - durable (`npm start`, npmStartRedisOptions): an append-only file in `dir`, fsynced every
 *    second (`appendfsync everysec`), so a machine crash loses at most about the last second of
 *    stream entries; a process crash loses nothing that Redis had acknowledged.
 *
 * With `auth`, clients must log in as that ACL user (`redis://user:password@…`); the default
 * user is switched off. The settings, password included, go into a config file of mode 600 in
 * `dir` rather than onto the command line, where `ps` would show them; it is deleted once the
 * server has read it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { registerSecret } from '../logging';
import { findOnPath, sleep, spawnManaged } from './child-process';
import { ADDRESS_IN_USE, getFreePort } from './ports';

export interface RedisAuth {
  user: string;
  password: string;
}

export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** Binary; default $REDIS_SERVER_PATH, else `redis-server` on PATH. */
  redisServerPath?: string;
  /** Working directory: its config file, and with `durable` its append-only file; default os.tmpdir(). */
  dir?: string;
  /** Append the server's output here. */
  logFile?: string;
  startTimeoutMs?: number;
  /** Clients must authenticate as this ACL user; absent: no authentication (loopback only). */
  auth?: RedisAuth;
  /** AOF with `appendfsync everysec` in `dir` (survives a machine crash but ~1 s); default: nothing on disk. */
  durable?: boolean;
  /** Serve TLS only (on `port`; the URL is rediss://); clients need not present a certificate. */
  tls?: RedisTls;
}

export interface RedisTls {
  certFile: string;
  keyFile: string;
  /** The CA that signed certFile (clients verify the server against it). */
  caFile: string;
}

export interface RedisServer {
  /** redis[s]://[user:password@]127.0.0.1:PORT */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** The ACL user `npm start` creates for its embedded Redis. */
export const NPM_START_REDIS_USER = 'trade-exec';

/**
 * The Redis `npm start` runs: durable, in DATA_DIR/redis, with a password generated on the first
 * start and kept in DATA_DIR/redis/password (mode 600), so the URL stays valid across restarts
 * of the same data directory (the port does not: it is free-picked each time).
 */
export function npmStartRedisOptions(o: { dataDir: string }): RedisServerOptions & { dir: string; durable: true; auth: RedisAuth } {
  const dir = path.join(o.dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'password');
  let password = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (!/^[0-9a-f]{32,}$/.test(password)) {
    password = randomBytes(24).toString('hex');
    fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  }
  // Printed only as *** in the ready banner; registered so no log line can carry it either.
  registerSecret(password);
  return { dir, durable: true, auth: { user: NPM_START_REDIS_USER, password } };
}

export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string {
  const bin = env.REDIS_SERVER_PATH || findOnPath('redis-server', env.PATH);
  if (!bin) {
    throw new Error(
      'redis-server not found on PATH (the tests start their own Redis). Install it: `apt-get install redis-server` ' +
        '(Debian/Ubuntu; `brew install redis` on macOS), or set REDIS_SERVER_PATH to the binary.',
    );
  }
  return bin;
}

/** One RESP command. */
function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** PING over a raw socket (after AUTH when given; over TLS, trusting `tlsCa`, when given); true on +PONG. */
export function redisPing(port: number, host = '127.0.0.1', timeoutMs = 1000, auth?: RedisAuth, tlsCa?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsCa ? tls.connect({ port, host, ca: tlsCa }) : net.connect({ port, host });
    let buf = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once(tlsCa ? 'secureConnect' : 'connect', () => socket.write((auth ? resp('AUTH', auth.user, auth.password) : '') + resp('PING')));
    socket.on('data', (d) => {
      buf += d.toString();
      const lines = buf.split('\r\n');
      if (lines.length - 1 >= (auth ? 2 : 1)) done(lines.includes('+PONG'));
    });
  });
}

/** A config file line: the value quoted the way redis.conf reads it. */
function confLine(...words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9._:/@~&+*>-]+$/.test(w) ? w : JSON.stringify(w))).join(' ');
}

export function redisConfig(port: number, o: Pick<RedisServerOptions, 'dir' | 'auth' | 'durable' | 'tls'>): string {
  const lines = [
    ...(o.tls
      ? [
          confLine('port', '0'),
          confLine('tls-port', String(port)),
          confLine('tls-cert-file', o.tls.certFile),
          confLine('tls-key-file', o.tls.keyFile),
          confLine('tls-ca-cert-file', o.tls.caFile),
          confLine('tls-auth-clients', 'no'),
        ]
      : [confLine('port', String(port))]),
    confLine('bind', '127.0.0.1'),
    confLine('daemonize', 'no'),
    confLine('dir', o.dir ?? os.tmpdir()),
    confLine('loglevel', 'warning'),
    // No RDB snapshots either way: the AOF is the durable copy, and a test server keeps nothing.
    'save ""',
    ...(o.durable
      ? [confLine('appendonly', 'yes'), confLine('appendfsync', 'everysec'), confLine('appenddirname', 'appendonlydir')]
      : [confLine('appendonly', 'no')]),
    ...(o.auth
      ? [confLine('user', 'default', 'off'), confLine('user', o.auth.user, 'on', `>${o.auth.password}`, '~*', '&*', '+@all')]
      : []),
  ];
  return `${lines.join('\n')}\n`;
}

export function redisUrlFor(port: number, auth?: RedisAuth, useTls = false): string {
  const cred = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : '';
  return `${useTls ? 'rediss' : 'redis'}://${cred}127.0.0.1:${port}`;
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = opts.redisServerPath ?? findRedisServer();
  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const dir = opts.dir ?? os.tmpdir();
  if (opts.auth && !/^[A-Za-z0-9._-]+$/.test(opts.auth.user)) throw new Error(`redis user ${JSON.stringify(opts.auth.user)}: use letters, digits and . _ - only`);
  const tlsCa = opts.tls ? fs.readFileSync(opts.tls.caFile) : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await getFreePort());
    const confFile = path.join(dir, `redis-${port}.conf`);
    fs.writeFileSync(confFile, redisConfig(port, { ...opts, dir }), { mode: 0o600 });
    fs.chmodSync(confFile, 0o600); // an existing file keeps its mode otherwise
    const proc = await spawnManaged(bin, [confFile], { name: `redis-server :${port}`, logFile: opts.logFile, stopTimeoutMs: 10_000 });
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (!ready && !proc.exitInfo() && Date.now() < deadline) {
      ready = await redisPing(port, '127.0.0.1', 1000, opts.auth, tlsCa);
      if (!ready) await sleep(50);
    }
    // Read at start-up only (nothing here uses CONFIG REWRITE): no copy of the password stays behind.
    fs.rmSync(confFile, { force: true });
    if (ready) {
      return { url: redisUrlFor(port, opts.auth, opts.tls !== undefined), port, pid: proc.pid, stop: async () => void (await proc.stop()) };
    }
    const exit = proc.exitInfo();
    await proc.stop();
    const output = proc.recentOutput(20);
    if (attempt < 3 && opts.port === undefined && ADDRESS_IN_USE.test(output)) continue;
    throw new Error(
      `redis-server on port ${port} ${exit ? `exited (code ${exit.code}, signal ${exit.signal})` : `did not answer PING within ${timeoutMs} ms`}:\n${output}`,
    );
  }
}
