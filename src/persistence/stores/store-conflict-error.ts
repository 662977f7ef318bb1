/**
 * The error every store raises for a conflicting repeat.
 *
 * Activities are retried after timeouts and crashes, so every store write is safe to repeat:
 * it is keyed by an id the caller derives deterministically (decision id, client order id,
 * (client order id, seq), (symbol, trade id), report id) and a repeat either changes
 * nothing or only moves state forward. Conflicting repeats (same key, different content)
 * are refused with a StoreConflictError rather than silently ignored: they mean two
 * different things were given one identity, which on a real-money ledger is a bug to stop on.
 */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}
