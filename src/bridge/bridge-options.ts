/** What a DecisionBridge is given: its connections, its consumer name, and its limits. */
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { AlertSink } from '../alerts/alerts';
import type { Logger } from '../logging';
import type { BridgeRecorder } from './decision-recorder';
import type { IntakeSafetyOptions } from './intake-safety';
import type { BridgeMetrics } from './metrics';

export interface BridgeOptions {
  redis: Redis;
  temporal: Client;
  recorder: BridgeRecorder;
  logger: Logger;
  taskQueue: string;
  /** Passed to each trade: the queue its order-sending activities run on (see TradeInput). */
  orderTaskQueue?: string;
  /**
   * Ask the server to hand the first workflow task straight back to a worker in this process
   * (the client must be on that worker's NativeConnection). Saves a task-queue round trip.
   */
  eagerStart?: boolean;
  /** This instance's consumer name; unique among running instances. */
  consumer: string;
  defaultOrderTimeoutMs: number;
  /** Entries per read and the most read ahead of the workers (default 100). */
  batchSize?: number;
  /** Entries processed at once: the bound on concurrent workflow starts (default 32). */
  concurrency?: number;
  /** Entries pending this long with another consumer are taken over (default 60 s). */
  claimIdleMs?: number;
  /** XREADGROUP BLOCK time; also the longest stop() waits for the reader (default 1 s). */
  blockMs?: number;
  /** Deadline of one workflow start call, its gRPC retries included (default 10 s). */
  startTimeoutMs?: number;
  /** How long stop() lets in-flight entries retry a failing dependency (default 15 s). */
  shutdownTimeoutMs?: number;
  /** Consumers idle this long with nothing pending are deleted from the group (default 1 h; 0: never). */
  pruneConsumersIdleMs?: number;
  /** Backoff of the retry gate (default 250 ms doubling to 15 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  stream?: string;
  deadLetterStream?: string;
  group?: string;
  workflowType?: string;
  metrics?: BridgeMetrics;
  /** Maximum age, clock skew and the signing key (intake-safety.ts); defaults: 60 s / 5 min / 5 s, unsigned. */
  safety?: IntakeSafetyOptions;
  /** Where refusals are alerted (default: an AlertSink on this bridge's Redis, stream `alerts`). */
  alerts?: AlertSink;
}
