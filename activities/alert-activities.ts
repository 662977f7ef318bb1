/**
 * Alerts raised by workflows (an unprotected position, an order whose fate is not known), through
 * the same sink as the service's own alerts: the Redis stream `alerts` and the log.
 */
import type Redis from 'ioredis';
import { AlertSink, type Alert } from '../src/alerts/alerts';
import type { Logger } from '../src/logging';

export interface AlertActivityDeps {
  redis: Redis;
  logger: Logger;
  alerts?: AlertSink;
}

export function createAlertActivities(deps: AlertActivityDeps) {
  const sink = deps.alerts ?? new AlertSink({ redis: deps.redis, logger: deps.logger.child({ component: 'alerts' }) });
  return {
    async raiseAlert(alert: Alert): Promise<void> {
      await sink.raise(alert);
    },
  };
}
