import { WorkflowUpdateFailedError } from '@temporalio/client';

/** The reason an update was refused with (its validator's message); fails the test if it was not refused. */
export async function refused(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return String((err as WorkflowUpdateFailedError).cause?.message);
}
