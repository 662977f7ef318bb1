/**
 * Free loopback TCP ports. The OS picks a free port (bind to 0), we close it and hand it out;
 * a port handed out in this OS process is not handed out again for a minute, so several
 * servers started in parallel never get the same one. Another program can still grab the port
 * between our check and the server's bind: callers that picked ports automatically retry with
 * new ones when the server reports "address already in use".
 */
import net from 'node:net';
import { sharedState } from './child-process';

const REUSE_AFTER_MS = 60_000;

function listenOnce(port: number, host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** `count` distinct free ports on `host` (default 127.0.0.1). */
export async function getFreePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const recent = sharedState().recentPorts;
  const now = Date.now();
  for (const [port, at] of recent) if (now - at > REUSE_AFTER_MS) recent.delete(port);
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < count; attempts++) {
      if (attempts > count * 50) throw new Error(`could not find ${count} free ports on ${host}`);
      const server = await listenOnce(0, host);
      held.push(server); // keep it bound so the next listen(0) returns another port
      const port = (server.address() as net.AddressInfo).port;
      if (recent.has(port)) continue;
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map(close));
  }
  for (const p of ports) recent.set(p, now);
  return ports;
}

/**
 * `count` distinct free ports in [min, max] (random tries), for a program that cannot take a
 * port from the OS's ephemeral range: the Temporal server stores its membership ports in a
 * SQL smallint, so they must be below 32768.
 */
export async function getFreePortsInRange(count: number, min: number, max: number, host = '127.0.0.1'): Promise<number[]> {
  const recent = sharedState().recentPorts;
  const now = Date.now();
  const ports: number[] = [];
  for (let attempts = 0; ports.length < count; attempts++) {
    if (attempts > count * 200) throw new Error(`could not find ${count} free ports in ${min}-${max} on ${host}`);
    const port = min + Math.floor(Math.random() * (max - min + 1));
    if (recent.has(port) || ports.includes(port)) continue;
    try {
      await close(await listenOnce(port, host));
    } catch {
      continue;
    }
    ports.push(port);
  }
  for (const p of ports) recent.set(p, now);
  return ports;
}

export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await getFreePorts(1, host);
  return port!;
}

/** True if nothing listens on host:port (we could bind it). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    await close(await listenOnce(port, host));
    return true;
  } catch {
    return false;
  }
}

/** True if a TCP connection to host:port succeeds within timeoutMs. */
export function canConnect(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Message fragments meaning "someone else took the port". */
export const ADDRESS_IN_USE = /address already in use|EADDRINUSE|could not bind|could not create listen socket/i;
