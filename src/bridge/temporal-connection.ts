/**
 * The Temporal connection a bridge should use: lazy (start-up does not wait for Temporal) and
 * without the SDK's gRPC retry interceptor. The bridge retries failed starts itself, through its
 * RetryGate, so the SDK's hidden retries (up to ~20 s per call) would only delay noticing an
 * outage and let later starts overtake a retrying one. Reconnect backoff is capped at 5 s so that
 * a returning server is found quickly.
 */
import { Connection, type ConnectionOptions } from '@temporalio/client';

export function bridgeConnectionOptions(address: string): ConnectionOptions {
  return {
    address,
    interceptors: [],
    channelArgs: {
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5_000,
    },
  };
}

export function connectBridgeTemporal(address: string): Connection {
  return Connection.lazy(bridgeConnectionOptions(address));
}
