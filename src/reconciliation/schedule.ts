/**
 * The Temporal Schedule that runs the Reconciliation workflow every `everyMs`. Created at
 * start-up by every worker process; when it exists already it is updated to the current
 * settings (idempotent, so a fleet of workers converges on one schedule).
 */
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { ReconciliationInput } from './types';

export interface ReconciliationScheduleOptions {
  scheduleId: string;
  taskQueue: string;
  /** Interval between runs (ms). */
  everyMs: number;
  input: ReconciliationInput;
  /** Start one run right away (start-up seeding and repair). */
  triggerNow?: boolean;
}

export async function ensureReconciliationSchedule(client: Client, o: ReconciliationScheduleOptions): Promise<{ created: boolean }> {
  const spec = { intervals: [{ every: o.everyMs }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'Reconciliation',
    workflowId: `reconciliation-${o.taskQueue}`,
    taskQueue: o.taskQueue,
    args: [o.input],
    workflowExecutionTimeout: Math.max(o.everyMs, 10 * 60_000),
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 60_000 };
  try {
    await client.schedule.create({
      scheduleId: o.scheduleId,
      spec,
      action,
      policies,
      state: { triggerImmediately: o.triggerNow === true, note: 'reconciliation: Postgres vs exchange' },
    });
    return { created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(o.scheduleId);
  await handle.update((prev) => ({ ...prev, spec, action, policies: { ...prev.policies, ...policies } }));
  if (o.triggerNow) await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return { created: false };
}
