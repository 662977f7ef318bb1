/**
 * The metrics endpoint has no authentication and shows positions, PnL and balances: by default
 * it must listen on loopback only, and the URL it reports must be the address really bound.
 * The address is read from the kernel's table of listening sockets (/proc/net/tcp), not from
 * what the server says about itself. Traffic goes to loopback only.
 */
import fs from 'node:fs';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config';
import { startMetricsServer } from '../../src/metrics/server';

/** Local IPv4 addresses of the sockets listening on `port` (TCP state 0A = LISTEN). */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== '0A') continue;
    const [hexAddr, hexPort] = cols[1]!.split(':');
    if (parseInt(hexPort!, 16) !== port) continue;
    // Little-endian hex: 0100007F is 127.0.0.1.
    const bytes = hexAddr!.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
    out.push(bytes.join('.'));
  }
  return out;
}

test('by default the endpoint listens on 127.0.0.1 only and says so', async () => {
  const server = await startMetricsServer({ registry: new Registry(), port: 0 });
  try {
    expect(listeningAddresses(server.port)).toEqual(['127.0.0.1']);
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test('METRICS_HOST widens it, and the printed URL shows the wider address actually bound', async () => {
  const config = loadConfig({ METRICS_HOST: '0.0.0.0', METRICS_PORT: '0' });
  const server = await startMetricsServer({ registry: new Registry(), port: config.METRICS_PORT, host: config.METRICS_HOST });
  try {
    expect(listeningAddresses(server.port)).toEqual(['0.0.0.0']);
    expect(server.url).toBe(`http://0.0.0.0:${server.port}`);
    // Scraped over loopback only.
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  } finally {
    await server.close();
  }
});

test('the configuration defaults METRICS_HOST to loopback and refuses a malformed one', () => {
  expect(loadConfig({}).METRICS_HOST).toBe('127.0.0.1');
  expect(() => loadConfig({ METRICS_HOST: 'a b' })).toThrow(/METRICS_HOST/);
});
