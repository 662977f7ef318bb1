/**
 * How the bridge tells a failing dependency (wait and retry the entry) from a message the
 * dependency refuses (dead-letter it), and how it words each in the one log line it gives.
 */
import type { Dependency } from './metrics';

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A step of settling an entry failed because of `dependency`; the entry stays pending. */
export class DependencyError extends Error {
  /**
   * Whether this failure may be about the entry rather than the service, so that the poison
   * guard may count it. Never for outages (unreachable, timeouts, overload, Redis): a flapping
   * dependency must not get a valid decision dead-lettered.
   */
  readonly mayBeTheEntry: boolean;

  constructor(
    readonly dependency: Dependency,
    message: string,
    cause: unknown,
  ) {
    super(message, { cause });
    this.mayBeTheEntry = mayBeAboutTheEntry(dependency, cause);
  }

  get detail(): string {
    return errorText(this.cause);
  }
}

function mayBeAboutTheEntry(dependency: Dependency, cause: unknown): boolean {
  switch (dependency) {
    case 'redis':
      return false;
    case 'postgres':
      return !isPgUnavailable(cause);
    case 'temporal': {
      const code = (cause as { cause?: { code?: unknown } }).cause?.code;
      // INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, or no gRPC code (client side).
      return code === undefined ? !/unavailable|deadline|connect|timeout/i.test(errorText(cause)) : [3, 5, 9, 11, 12].includes(Number(code));
    }
    case 'bridge':
      return true;
  }
}

/**
 * A refusal of this message rather than of the database: SQLSTATE class 22 (data exception) or
 * 23 (constraint violation), a schema refusal, or a RangeError (stack or size limits hit by the
 * payload). Such a step is not retried: the entry is dead-lettered with the error as its reason.
 */
function isPermanentPgError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code)) return true;
  const name = (err as { name?: unknown }).name;
  return name === 'ZodError' || err instanceof RangeError;
}

/** Postgres cannot be reached or is not accepting work now: wait, do not give up on the entry. */
export function isPgUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(08|53|57)[0-9A-Z]{3}$/.test(code)) return true; // connection exception, insufficient resources, operator intervention
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...
  }
  return /connection|terminat|timeout|not queryable|ECONN/i.test(errorText(err));
}

export type PgStep<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Runs a Postgres step; a per-message refusal (data or constraint error) comes back as a reason. */
export async function pgStep<T>(what: string, fn: () => Promise<T>): Promise<PgStep<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (isPermanentPgError(err)) return { ok: false, reason: `postgres refused ${what}: ${errorText(err)}` };
    throw new DependencyError('postgres', `cannot record decisions: Postgres failed ${what} (${errorText(err)})`, err);
  }
}

/** Runs a Redis step; any failure is Redis's (the entry is never blamed for it). */
export async function redisStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new DependencyError('redis', `Redis failed ${what} (${errorText(err)})`, err);
  }
}

const GRPC_CODES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND', 6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 10: 'ABORTED', 11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
};

/** Says whether Temporal at `address` is unreachable or refused the call, with its gRPC code and detail. */
export function describeTemporalFailure(address: string, err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; details?: unknown } }).cause;
  const code = typeof cause?.code === 'number' ? cause.code : undefined;
  const detail = typeof cause?.details === 'string' && cause.details ? cause.details : errorText(err);
  const name = code === undefined ? undefined : GRPC_CODES[code];
  if (code === 14 || code === 4 || (code === undefined && /unavailable|deadline|ECONNREFUSED|connect/i.test(detail))) {
    return `cannot start workflows: Temporal at ${address} is unreachable (${name ?? 'no answer'}: ${detail})`;
  }
  return `cannot start workflows: Temporal at ${address} refused the start (${name ?? 'error'}: ${detail})`;
}
