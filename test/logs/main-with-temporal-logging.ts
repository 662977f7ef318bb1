/**
 * `npm start` (src/operations/main.ts) with the Temporal SDK's logs routed through pino first,
 * for the log test. Once main.ts calls installTemporalLogging itself this call is a no-op.
 */
import { createLogger, installTemporalLogging } from '../../src/logging';

installTemporalLogging(createLogger('temporal', process.env.LOG_LEVEL ?? 'info'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../src/operations/main');
