// The workflow bundle's entry point: every workflow type the worker serves.
export { TradeExecution } from './trade-execution';
export { Reconciliation } from './reconciliation';
