/**
 * All activities, built by one factory from their dependencies (exchange client, store, Redis),
 * so tests and the worker wire the same code to different backends.
 */
import { AlertSink } from '../src/alerts/alerts';
import { createAlertActivities, type AlertActivityDeps } from './alert-activities';
import { createBookkeepingActivities, type BookkeepingDeps } from './bookkeeping-activities';
import { createExchangeActivities, type ExchangeActivityDeps } from './exchange-activities';
import { createPushCoverageActivities, type PushCoverageActivityDeps } from './push-coverage-activities';
import { createPortfolioActivities, type PortfolioActivityDeps } from './portfolio-activities';
import { createReconciliationActivities, type ReconciliationActivityDeps } from './reconciliation-activities';
import { createRiskActivities, type RiskActivityDeps } from './risk-activities';

export type ActivityDeps = ExchangeActivityDeps & BookkeepingDeps & AlertActivityDeps & Partial<PortfolioActivityDeps> & ReconciliationActivityDeps &
  Pick<RiskActivityDeps, 'riskLimits' | 'intake'> & PushCoverageActivityDeps;

export function createActivities(deps: ActivityDeps) {
  // One sink for the workflows' alerts and the exchange activities' (its cooldowns live in Redis).
  const alerts = deps.alerts ?? new AlertSink({ redis: deps.redis, logger: deps.logger.child({ component: 'alerts' }) });
  deps = { ...deps, alerts };
  return {
    ...createExchangeActivities(deps),
    ...createBookkeepingActivities(deps),
    ...createAlertActivities(deps),
    ...createPortfolioActivities(deps),
    ...createReconciliationActivities(deps),
    ...createRiskActivities(deps),
    ...createPushCoverageActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { TradeStore } from './bookkeeping-activities';
