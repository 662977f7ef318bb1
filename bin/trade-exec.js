#!/usr/bin/env node
/**
 * `npx trade-exec ...`: the operator CLI (src/operations/cli.ts), run from its TypeScript source
 * through tsx's require hook, in this process (no second node start-up).
 */
'use strict';
const path = require('node:path');

require('tsx/cjs/api').register();
const { runCli } = require(path.join(__dirname, '..', 'src', 'operations', 'cli.ts'));

const write = (stream) => (text) => void stream.write(text);
runCli(process.argv.slice(2), { stdout: write(process.stdout), stderr: write(process.stderr), env: process.env }).then((code) => {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
