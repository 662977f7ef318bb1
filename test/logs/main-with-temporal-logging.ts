/**
 * `npm start` (src/operations/main.ts) with the Temporal SDK's logs routed through pino first,
 * for the log test. Once main.ts calls installTemporalLogging itself this call is a no-op.
 *
 * LOG_TEST_DELIBERATE_LEAK=<value>: a deliberate leak on a test-only path, to prove the log check
 * can fail: the value is registered as a secret (so the value scrubber, when on, would hide it)
 * and then written into a log line's message, as a careless code path would.
 */
import { createLogger, installTemporalLogging, registerSecret } from '../../src/logging';

installTemporalLogging(createLogger('temporal', process.env.LOG_LEVEL ?? 'info'));
const leak = process.env.LOG_TEST_DELIBERATE_LEAK;
if (leak) {
  registerSecret(leak);
  createLogger('log-test').info(`deliberate leak for the log test: ${leak}`);
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../src/operations/main');
