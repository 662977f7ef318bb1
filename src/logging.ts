/**
 * One structured JSON logger for the whole service. Anything that looks like a credential is
 * redacted by key name, wherever it is nested, so a careless `log.info({ config })` cannot
 * leak an API secret.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'apiSecret',
  'api_secret',
  'secret',
  'apiKey',
  'api_key',
  'privateKey',
  'private_key',
  'privateKeyPem',
  'password',
  'signature',
  'authorization',
  'X-MBX-APIKEY',
  'x-mbx-apikey',
  'BINANCE_API_KEY',
  'BINANCE_API_SECRET',
  'BINANCE_PRIVATE_KEY',
];

// fast-redact paths: identifiers as `a.b`, anything else (header names) as `a["x-y"]`.
const segment = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);
const redactPaths = SECRET_KEYS.flatMap((k) =>
  ['', '*', '*.*', '*.*.*'].map((prefix) => `${prefix}${segment(k)}`.replace(/^\./, '')),
);

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: 'trade-exec', component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Strips userinfo from connection URLs (postgres://user:pass@host) before they are printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
