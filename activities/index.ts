/**
 * All activities, built by one factory from their dependencies (exchange client, store, Redis),
 * so tests and the worker wire the same code to different backends.
 */
import { createAlertActivities, type AlertActivityDeps } from './alert-activities';
import { createBookkeepingActivities, type BookkeepingDeps } from './bookkeeping-activities';
import { createExchangeActivities, type ExchangeActivityDeps } from './exchange-activities';
import { createPortfolioActivities, type PortfolioActivityDeps } from './portfolio-activities';
import { createReconciliationActivities, type ReconciliationActivityDeps } from './reconciliation-activities';
import { createRiskActivities, type RiskActivityDeps } from './risk-activities';

export type ActivityDeps = ExchangeActivityDeps & BookkeepingDeps & AlertActivityDeps & Partial<PortfolioActivityDeps> & ReconciliationActivityDeps &
  Pick<RiskActivityDeps, 'riskLimits' | 'intake'>;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createExchangeActivities(deps),
    ...createBookkeepingActivities(deps),
    ...createAlertActivities(deps),
    ...createPortfolioActivities(deps),
    ...createReconciliationActivities(deps),
    ...createRiskActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { TradeStore } from './bookkeeping-activities';
