/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Type checking is done once by `tsc --noEmit` in `npm test`; here we only transpile.
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testSequencer: '<rootDir>/test/support/sequencer.js',
  testTimeout: 120000,
  verbose: true,
  // Still forceExit: with every nameable handle closed (global-teardown.ts lists any that is not)
  // the process stayed alive after the last test all the same, with nothing node can name (the
  // Temporal SDK's native runtime, most likely); jest would wait for ever.
  forceExit: true,
};
