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
  // No forceExit: every test file closes what it opened. global-teardown.ts names what is still
  // open after the last test and exits 1 if the process is still alive 20 s later.
};
