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
  // Integration tests hold sockets to Temporal, Postgres, Redis and the paper exchange; one that
  // leaks a handle must not keep CI waiting forever after the results are in.
  forceExit: true,
};
