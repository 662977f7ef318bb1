/**
 * What a CLI command may need, opened lazily from the same environment variables the service
 * reads (src/config.ts), and closed when the command ends. Client libraries are required only
 * when first used (the Temporal client alone takes over a second to load).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import { ConfigError, loadConfig, type Config } from '../../config';
import type { BinanceSpotClient } from '../../exchange';
import { redactUrl } from '../../logging';
import { CliError, describeError, EXIT } from './errors';

/** Where the CLI looks when a variable is unset: the ports docker-compose.yml publishes on 127.0.0.1. */
export const CLI_DEFAULTS = {
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  REDIS_URL: 'redis://127.0.0.1:6379',
} as const;

const CONNECT_TIMEOUT_MS = 5_000;

export interface Output {
  /** --json was given: stdout carries exactly one JSON document. */
  json: boolean;
  out(text: string): void;
  /** Progress and notes for people, on stderr (silent with --quiet). */
  progress(text: string): void;
}

export class CliContext {
  private config?: Config;
  private temporalClient?: Promise<Client>;
  private redisClient?: Promise<Redis>;
  private pgPool?: Pool;
  private exchangeClient?: BinanceSpotClient;
  private readonly closers: Array<() => Promise<unknown> | unknown> = [];

  constructor(
    readonly env: NodeJS.ProcessEnv,
    readonly output: Output,
  ) {}

  cfg(): Config {
    if (!this.config) {
      try {
        this.config = loadConfig(this.env);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(`invalid configuration: ${err.problems.join('; ')}`, EXIT.usage);
        throw err;
      }
    }
    return this.config;
  }

  get temporalAddress(): string {
    return this.cfg().TEMPORAL_ADDRESS ?? CLI_DEFAULTS.TEMPORAL_ADDRESS;
  }
  get namespace(): string {
    return this.cfg().TEMPORAL_NAMESPACE;
  }
  get taskQueue(): string {
    return this.cfg().TEMPORAL_TASK_QUEUE;
  }
  get redisUrl(): string {
    return this.cfg().REDIS_URL ?? CLI_DEFAULTS.REDIS_URL;
  }

  temporal(): Promise<Client> {
    this.temporalClient ??= (async () => {
      const { Client, Connection } = require('@temporalio/client') as typeof import('@temporalio/client');
      const address = this.temporalAddress;
      let connection;
      try {
        connection = await Connection.connect({ address, connectTimeout: CONNECT_TIMEOUT_MS });
      } catch (err) {
        throw new CliError(`cannot reach Temporal at ${address} (TEMPORAL_ADDRESS): ${describeError(err)}`);
      }
      this.closers.push(() => connection.close());
      return new Client({ connection, namespace: this.namespace });
    })();
    return this.temporalClient;
  }

  redis(): Promise<Redis> {
    this.redisClient ??= (async () => {
      const { default: Redis } = require('ioredis') as typeof import('ioredis');
      const url = this.redisUrl;
      const redis = new Redis(url, {
        lazyConnect: true,
        connectTimeout: CONNECT_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
        enableOfflineQueue: false,
      });
      redis.on('error', () => undefined); // reported by connect() / the command instead
      this.closers.push(() => redis.disconnect());
      try {
        await redis.connect();
      } catch (err) {
        throw new CliError(`cannot reach Redis at ${redactUrl(url)} (REDIS_URL): ${describeError(err)}`);
      }
      return redis;
    })();
    return this.redisClient;
  }

  async pool(): Promise<Pool> {
    if (!this.pgPool) {
      const url = this.cfg().DATABASE_URL;
      if (!url) {
        throw new CliError(
          'DATABASE_URL is not set: set it to the service database, e.g. postgres://trade:PASSWORD@127.0.0.1:5432/trade',
          EXIT.usage,
        );
      }
      const { Pool } = require('pg') as typeof import('pg');
      const pool = new Pool({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, max: 2 });
      pool.on('error', () => undefined);
      this.closers.push(() => pool.end());
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        throw new CliError(`cannot reach PostgreSQL at ${redactUrl(url)} (DATABASE_URL): ${describeError(err)}`);
      }
      this.pgPool = pool;
    }
    return this.pgPool;
  }

  /** Whether an exchange is configured at all (some commands use it only when it is). */
  hasExchange(): boolean {
    return this.cfg().BINANCE_BASE_URL !== undefined;
  }

  /** Whether signed (account) calls can be made. */
  hasExchangeKeys(): boolean {
    const c = this.cfg();
    return !!c.BINANCE_API_KEY && (!!c.BINANCE_API_SECRET || !!c.BINANCE_PRIVATE_KEY_PATH);
  }

  async exchange(): Promise<BinanceSpotClient> {
    if (!this.exchangeClient) {
      const c = this.cfg();
      if (!c.BINANCE_BASE_URL) {
        throw new CliError(
          'BINANCE_BASE_URL is not set: set it to the exchange the service uses (the paper exchange URL `npm start` printed, or https://api.binance.com)',
          EXIT.usage,
        );
      }
      let pem: string | undefined;
      if (c.BINANCE_PRIVATE_KEY_PATH) {
        try {
          pem = readFileSync(c.BINANCE_PRIVATE_KEY_PATH, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read BINANCE_PRIVATE_KEY_PATH: ${describeError(err)}`, EXIT.usage);
        }
      }
      const { BinanceSpotClient } = require('../../exchange') as typeof import('../../exchange');
      const client = new BinanceSpotClient({
        baseUrl: c.BINANCE_BASE_URL,
        apiKey: c.BINANCE_API_KEY,
        apiSecret: pem ? undefined : c.BINANCE_API_SECRET,
        ed25519PrivateKeyPem: pem,
        recvWindow: c.BINANCE_RECV_WINDOW,
        timeoutMs: CONNECT_TIMEOUT_MS * 2,
      });
      this.closers.push(() => client.close());
      this.exchangeClient = client;
    }
    return this.exchangeClient;
  }

  async close(): Promise<void> {
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch {
        // closing is best effort
      }
    }
  }
}
