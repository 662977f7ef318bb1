/** jest globalTeardown: stops what test/support/global-setup.ts started (same process and realm). */
import { stopTestServices, TEST_SERVICES_KEY, type TestServiceHandles } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as unknown as Record<symbol, TestServiceHandles | undefined>;
  const handles = g[TEST_SERVICES_KEY];
  if (!handles) return;
  delete g[TEST_SERVICES_KEY];
  await stopTestServices(handles);
}
