/**
 * Exchange metrics without touching the client or the activities that use it: a Proxy around
 * the BinanceSpotClient that times every asynchronous call and counts its errors by Binance
 * error code. `this` inside the client's methods is the client itself, so its private state
 * (budget, pool, clock offset) is unaffected; `instanceof BinanceSpotClient` still holds.
 */
import { BinanceError, type BinanceSpotClient } from '../exchange';
import type { ServiceMetrics } from './metrics';

/** Methods that are synchronous, local (cache) or lifecycle: not timed. */
const NOT_INSTRUMENTED = new Set<PropertyKey>(['usage', 'timeOffsetMs', 'close', 'cachedExchangeInfo', 'syncTime', 'constructor']);

export function instrumentExchange(client: BinanceSpotClient, metrics: ServiceMetrics): BinanceSpotClient {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (NOT_INSTRUMENTED.has(prop) || typeof prop !== 'string') return value.bind(target);
      let fn = wrapped.get(prop);
      if (!fn) {
        const method = prop;
        fn = (...args: unknown[]) => {
          const end = metrics.exchangeLatency.startTimer({ method });
          let result: unknown;
          try {
            result = (value as (...a: unknown[]) => unknown).apply(target, args);
          } catch (err) {
            end();
            recordError(metrics, method, err);
            throw err;
          }
          if (!(result instanceof Promise)) {
            end();
            return result;
          }
          return result.then(
            (v) => {
              end();
              metrics.exchangeRequests.inc({ method, outcome: 'ok' });
              return v;
            },
            (err: unknown) => {
              end();
              recordError(metrics, method, err);
              throw err;
            },
          );
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

function recordError(metrics: ServiceMetrics, method: string, err: unknown): void {
  metrics.exchangeRequests.inc({ method, outcome: 'error' });
  if (err instanceof BinanceError) {
    const code = err.code !== undefined ? String(err.code) : err.httpStatus !== undefined ? `http_${err.httpStatus}` : 'none';
    metrics.exchangeErrors.inc({ code, kind: err.kind, method });
  } else {
    metrics.exchangeErrors.inc({ code: 'none', kind: 'internal', method });
  }
}
