/**
 * The suite's own services from test/support/global-setup.ts: tests see them through
 * process.env / testServices(), and can take Temporal down and up (outage tests).
 */
import fs from 'node:fs';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../src/shared/search-attributes';
import { canConnect } from '../../src/operations/ports';
import {
  restartTemporal,
  startTemporal,
  stopTemporal,
  temporalStatus,
  testServices,
  testServicesEnabled,
  withTemporalOutage,
} from '../support/services';

const describeIfServices = testServicesEnabled() ? describe : describe.skip;

describeIfServices('test services started by globalSetup', () => {
  test('are visible to tests through process.env, testServices() and the JSON file', () => {
    const s = testServices();
    expect(s.temporalAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.namespace).toBe('default');
    expect(s.temporalUiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.databaseUrl).toMatch(/^postgres:\/\/.*@127\.0\.0\.1:\d+\/postgres$/);
    expect(s.redisUrl).toMatch(/^redis:\/\/trade-exec-test:[0-9a-f]{36}@127\.0\.0\.1:\d+$/); // an ACL user and password
    expect(fs.existsSync(s.temporalCliPath)).toBe(true);
    expect(process.env.TEMPORAL_ADDRESS).toBe(s.temporalAddress);
    const file = JSON.parse(fs.readFileSync(s.servicesFile, 'utf8')) as Record<string, string>;
    expect(file).toMatchObject({
      TEMPORAL_ADDRESS: s.temporalAddress,
      TEMPORAL_NAMESPACE: s.namespace,
      TEMPORAL_UI_URL: s.temporalUiUrl,
      DATABASE_URL: s.databaseUrl,
      REDIS_URL: s.redisUrl,
      TEMPORAL_CLI_PATH: s.temporalCliPath,
    });
  });

  test('Postgres, Redis and Temporal (with the search attributes) answer', async () => {
    const s = testServices();
    const pg = new PgClient({ connectionString: s.databaseUrl });
    await pg.connect();
    try {
      expect((await pg.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pg.end();
    }
    const redis = new Redis(s.redisUrl);
    try {
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }
    const connection = await Connection.connect({ address: s.temporalAddress });
    try {
      const sa = await connection.operatorService.listSearchAttributes({ namespace: s.namespace });
      for (const { name } of SEARCH_ATTRIBUTE_REGISTRATIONS) expect(sa.customAttributes?.[name]).toBeDefined();
    } finally {
      await connection.close();
    }
  });

  test('Temporal can be stopped and started again on the same address with its data (outage tests)', async () => {
    const s = testServices();
    const port = Number(s.temporalAddress.split(':')[1]);
    const connection = await Connection.connect({ address: s.temporalAddress });
    try {
      const client = new Client({ connection, namespace: s.namespace });
      const workflowId = `outage-test-${Date.now()}`;
      await client.workflow.start('NoSuchWorkflow', { taskQueue: 'nobody-listens', workflowId });

      const stopped = await stopTemporal();
      expect(stopped.running).toBe(false);
      expect(await canConnect(port)).toBe(false);
      expect((await temporalStatus()).running).toBe(false);

      const started = await startTemporal();
      expect(started).toMatchObject({ running: true, address: s.temporalAddress });
      expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');

      const restarted = await restartTemporal();
      expect(restarted.running).toBe(true);
      expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');

      const seenDown = await withTemporalOutage(async () => canConnect(port));
      expect(seenDown).toBe(false);
      expect((await temporalStatus()).running).toBe(true);
      expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
    } finally {
      await connection.close();
    }
  });
});

test('testServices() explains itself when the suite runs with TEST_SERVICES=none', () => {
  const saved = process.env.TEST_SERVICES;
  process.env.TEST_SERVICES = 'none';
  try {
    expect(() => testServices()).toThrow(/started with TEST_SERVICES=none/);
  } finally {
    if (saved === undefined) delete process.env.TEST_SERVICES;
    else process.env.TEST_SERVICES = saved;
  }
});
