/**
 * What a failure that reached workflow code says: its ApplicationFailure type (by which the
 * workflow decides what is safe next, see src/shared/failure-types.ts) and its message, found
 * by walking the cause chain (an activity's failure arrives wrapped in an ActivityFailure).
 */
import { ApplicationFailure } from '@temporalio/workflow';

export function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e && typeof e === 'object') {
    if (e instanceof ApplicationFailure) return e.type ?? undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function describeFailure(err: unknown): string {
  let e: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object') {
    if (e instanceof ApplicationFailure) return e.message;
    e = (e as { cause?: unknown }).cause;
    if (e instanceof Error) message = e.message;
  }
  return message;
}
