/**
 * Fault injection for the paper exchange. Faults are matched per request (method/path) and
 * consumed (`times`, default 1). "afterPlaced" faults let the request run to completion (the
 * order really exists on the exchange) and only then replace or drop the response, which is
 * exactly the situation a retrying client must not turn into a second order.
 */
import { z } from 'zod';

export const FaultSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('latency'), ms: z.number().int().nonnegative().max(120_000) }),
  /** An HTTP 5xx. afterPlaced (default true): the request is executed first. */
  z.object({ kind: z.literal('http5xx'), status: z.number().int().min(500).max(599).default(500), afterPlaced: z.boolean().default(true) }),
  /** Binance's -1007 "Timeout waiting for response from backend server...", after executing by default. */
  z.object({ kind: z.literal('timeout1007'), afterPlaced: z.boolean().default(true) }),
  /** The TCP connection is destroyed without a response, after executing by default. */
  z.object({ kind: z.literal('dropConnection'), afterPlaced: z.boolean().default(true) }),
  /** HTTP 429 -1003 with Retry-After, without executing. Use `times` for a burst. */
  z.object({ kind: z.literal('rateLimit429'), retryAfterSec: z.number().int().nonnegative().default(1) }),
  /** Shifts the exchange clock by `ms` (positive = exchange ahead). Persistent until cleared. */
  z.object({ kind: z.literal('clockSkew'), ms: z.number().int() }),
]);

const MatchSchema = z.object({
  /** HTTP method to match, e.g. "POST"; any when omitted. */
  method: z.string().optional(),
  /** Exact path to match, e.g. "/api/v3/order"; any when omitted. */
  path: z.string().optional(),
  /** How many matching requests this fault applies to; 0 = until cleared. Default 1. */
  times: z.number().int().nonnegative().default(1),
});

export const FaultInputSchema = z.intersection(FaultSchema, MatchSchema);
export type FaultInput = z.input<typeof FaultInputSchema>;
export type Fault = z.output<typeof FaultInputSchema> & { id: number; remaining: number };

export class FaultInjector {
  private faults: Fault[] = [];
  private nextId = 1;
  /** Requests each fault has hit, for tests to assert the fault really fired. */
  readonly hits = new Map<number, number>();

  /** Adds a fault; returns its id. */
  inject(input: FaultInput): number {
    const parsed = FaultInputSchema.parse(input);
    const id = this.nextId++;
    this.faults.push({ ...parsed, id, remaining: parsed.times === 0 ? Number.POSITIVE_INFINITY : parsed.times });
    return id;
  }

  clear(id?: number): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  get clockSkewMs(): number {
    return this.faults.reduce((acc, f) => (f.kind === 'clockSkew' ? acc + f.ms : acc), 0);
  }

  /** Takes the faults (other than clock skew) that apply to this request, consuming them. */
  take(method: string, path: string): Fault[] {
    const hit: Fault[] = [];
    const seenKinds = new Set<string>();
    for (const f of this.faults) {
      if (f.kind === 'clockSkew') continue;
      if (f.method !== undefined && f.method.toUpperCase() !== method) continue;
      if (f.path !== undefined && f.path !== path) continue;
      if (seenKinds.has(f.kind)) continue;
      seenKinds.add(f.kind);
      f.remaining--;
      this.hits.set(f.id, (this.hits.get(f.id) ?? 0) + 1);
      hit.push({ ...f });
    }
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return hit;
  }
}
