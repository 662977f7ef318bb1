/**
 * Issue 16: the paper exchange's /admin/* (prices, faults, fills) needs a token whenever it is
 * bound beyond loopback; a configured token is always required. Traffic only to 127.0.0.1: the
 * non-loopback refusal is checked as the start-up rule itself, before anything listens.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { checkAdminBinding, isLoopbackHost, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { admin } from './admin-http';
import { harness } from './helpers';

const TOKEN = 'test-admin-token-0123456789abcdef';
const root = path.join(__dirname, '..', '..');

describe('paper exchange admin token', () => {
  test('with a token configured, /admin/* answers 401 without it or with a wrong one, 200 with it; the API is unaffected', async () => {
    const h = await harness({ adminToken: TOKEN });
    try {
      for (const [method, p, body] of [
        ['GET', '/admin/faults', undefined],
        ['POST', '/admin/faults', { kind: 'outage', ms: 60_000 }],
        ['POST', '/admin/price', { symbol: 'BTCUSDT', price: '1.00' }],
        ['POST', '/admin/fill', { symbol: 'BTCUSDT', orderId: 1, quantity: '1' }],
        ['GET', '/admin/state', undefined],
      ] as const) {
        expect([method, p, (await admin(h.ex.url, method, p, body)).status]).toEqual([method, p, 401]);
        expect([method, p, (await admin(h.ex.url, method, p, body, 'wrong-token-0123456789abcdef')).status]).toEqual([method, p, 401]);
      }
      // Nothing a refused request asked for happened.
      expect(h.ex.faults.list()).toEqual([]);
      expect(h.ex.price('BTCUSDT')).not.toBe('1.00000000');

      expect((await admin(h.ex.url, 'GET', '/admin/faults', undefined, TOKEN)).status).toBe(200);
      expect((await admin(h.ex.url, 'POST', '/admin/price', { symbol: 'BTCUSDT', price: '42000.00' }, TOKEN)).status).toBe(200);
      expect(h.ex.price('BTCUSDT')).toBe('42000.00000000');
      // Binance's own endpoints need no admin token.
      await expect(h.client.ping()).resolves.toBeUndefined();
      await expect(h.client.account()).resolves.toMatchObject({ canTrade: true });
    } finally {
      await h.close();
    }
  });

  test('on loopback without a token the admin API stays open, as before', async () => {
    const h = await harness();
    try {
      expect((await admin(h.ex.url, 'GET', '/admin/faults')).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  test('the start-up rule: beyond loopback only with a token; a token must be long enough', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect([host, isLoopbackHost(host)]).toEqual([host, true]);
      expect(() => checkAdminBinding(host, undefined)).not.toThrow();
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.5', 'paper-exchange']) {
      expect([host, isLoopbackHost(host)]).toEqual([host, false]);
      expect(() => checkAdminBinding(host, undefined)).toThrow(new RegExp(`refusing to bind the paper exchange to ${host.replace(/[.[\]]/g, '\\$&')} without an admin token.*PAPER_ADMIN_TOKEN`));
      expect(() => checkAdminBinding(host, TOKEN)).not.toThrow();
    }
    expect(() => checkAdminBinding('127.0.0.1', 'short')).toThrow(/PAPER_ADMIN_TOKEN\) must be at least 16 characters/);
  });

  test('startPaperExchange refuses a non-loopback host without a token before it listens', async () => {
    let ex: PaperExchange | undefined;
    await expect(
      startPaperExchange({ host: '0.0.0.0', port: 0 }).then((e) => {
        ex = e;
        return e;
      }),
    ).rejects.toThrow(/refusing to bind the paper exchange to 0\.0\.0\.0 without an admin token/);
    expect(ex).toBeUndefined();
  });

  test('npm run exchange (main.ts) exits 1 with the reason on PAPER_EXCHANGE_HOST=0.0.0.0 without PAPER_ADMIN_TOKEN', () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PAPER_EXCHANGE_HOST: '0.0.0.0', PAPER_EXCHANGE_PORT: '0', LOG_LEVEL: 'error' };
    const r = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['src/paper-exchange/main.ts'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/paper exchange failed to start: refusing to bind the paper exchange to 0\.0\.0\.0 without an admin token.*set PAPER_ADMIN_TOKEN/);
    expect(r.stdout).not.toMatch(/listening/);
  }, 90_000);
});
