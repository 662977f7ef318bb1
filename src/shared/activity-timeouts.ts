/**
 * Timeouts shared by the workflows that schedule exchange activities and the worker that checks,
 * at start-up, that no legitimate wait inside an attempt can outlast them. Pure: workflow code
 * imports it.
 */

/** Start-to-close of every exchange activity: longer than the longest legitimate attempt. */
export const EXCHANGE_START_TO_CLOSE_MS = 120_000;
/** Exchange activities heartbeat every 2 s through every wait; a dead worker is noticed within this. */
export const EXCHANGE_HEARTBEAT_TIMEOUT_MS = 10_000;
