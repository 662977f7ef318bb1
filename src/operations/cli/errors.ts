/** Errors the CLI reports as one line with a chosen exit code. */

export const EXIT = {
  ok: 0,
  /** The operation failed: an update was refused, a service could not be reached, the trade failed. */
  failed: 1,
  /** Bad command line or configuration. */
  usage: 2,
  /** The trade (workflow) does not exist. */
  notFound: 3,
  /** A wait (--wait) ran out of time; the operation may still complete. */
  timeout: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);

/** The innermost useful message of an error chain (Temporal wraps failures in several layers). */
export function describeError(err: unknown): string {
  const seen = new Set<unknown>();
  let e: unknown = err;
  let best = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string' && msg.trim() !== '') best = msg;
    e = (e as { cause?: unknown }).cause;
  }
  return oneLine(best);
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
