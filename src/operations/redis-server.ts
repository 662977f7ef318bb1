/**
 * A throwaway redis-server (from PATH, or REDIS_SERVER_PATH) on a free loopback port, keeping
 * nothing on disk (`--save "" --appendonly no`), in its own process group (child-process.ts).
 */
import net from 'node:net';
import os from 'node:os';
import { findOnPath, sleep, spawnManaged } from './child-process';
import { ADDRESS_IN_USE, getFreePort } from './ports';

export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** Binary; default $REDIS_SERVER_PATH, else `redis-server` on PATH. */
  redisServerPath?: string;
  /** Working directory for redis (nothing is written with these settings); default os.tmpdir(). */
  dir?: string;
  /** Append the server's output here. */
  logFile?: string;
  startTimeoutMs?: number;
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
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

/** PING over a raw socket; true on +PONG. */
export function redisPing(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let buf = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = opts.redisServerPath ?? findRedisServer();
  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await getFreePort());
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
      '--dir', opts.dir ?? os.tmpdir(),
      '--loglevel', 'warning',
    ];
    const proc = await spawnManaged(bin, args, { name: `redis-server :${port}`, logFile: opts.logFile, stopTimeoutMs: 10_000 });
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (!ready && !proc.exitInfo() && Date.now() < deadline) {
      ready = await redisPing(port);
      if (!ready) await sleep(50);
    }
    if (ready) {
      return { url: `redis://127.0.0.1:${port}`, port, pid: proc.pid, stop: async () => void (await proc.stop()) };
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
