/**
 * The Redis names the risk engine and this service agree on. Kept free of imports so the CLI and
 * the benches can name the stream without loading the bridge.
 */

/** Where the risk engine publishes its decisions; the bridge reads it. */
export const RISK_DECISIONS_STREAM = 'risk_decisions';
/** Entries the bridge could not or would not execute, with the reason (see src/bridge/dead-letter.ts). */
export const DEAD_LETTER_STREAM = 'risk_decisions:dead';
/** The bridge instances' consumer group on RISK_DECISIONS_STREAM. */
export const CONSUMER_GROUP = 'trading-execution';
