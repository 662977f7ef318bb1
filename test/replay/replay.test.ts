/**
 * Replays every saved history through today's workflow code. A change that would make a running
 * workflow take a different path (a non-determinism error) fails here, before it ships; guard
 * such changes with patched(). The replay runs in a child process (src/operations/replay.ts):
 * protobufjs's JSON conversion does not survive jest's module sandbox.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(__dirname, 'histories');
// The histories a starting worker replays to warm up (src/worker/warm-up.ts) must replay too.
const WARM_UP_DIR = path.join(ROOT, 'src/worker/warm-up-histories');
const jsonIn = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f));
const files = jsonIn(DIR);
const warmUpFiles = jsonIn(WARM_UP_DIR);

test('there are saved histories of every trade shape to replay', () => {
  expect(files.map((f) => path.basename(f))).toEqual(
    expect.arrayContaining(
      [
        ...['v1', 'v2', 'v3'].flatMap((release) => ['market', 'limit-timeout', 'limit-amend', 'bracket', 'ui-cancel'].map((shape) => `${release}-${shape}.json`)),
        // The Trade class (v3): continue-as-new, a failed trade settled as never placed, an OCO
        // entry, a quantity amend in place.
        ...['continue-as-new', 'failed', 'oco-entry', 'limit-amend-quantity'].map((shape) => `v3-${shape}.json`),
        // Push coverage (v4, patch 'push-coverage'): every shape again, and a rest through a stream gap.
        ...['market', 'limit-timeout', 'limit-amend', 'bracket', 'ui-cancel', 'continue-as-new', 'failed', 'oco-entry', 'limit-amend-quantity', 'stream-gap'].map((shape) => `v4-${shape}.json`),
        // A LIMIT entry sent with its protection as one OPOCO (v5, patch 'protected-entry').
        'v5-protected-entry.json',
      ],
    ),
  );
});

test('every saved history replays without a non-determinism error, and so do the warm-up histories', () => {
  expect(warmUpFiles.length).toBeGreaterThan(0);
  const run = spawnSync(process.execPath, ['--require', 'tsx/cjs', 'src/operations/replay.ts', ...files, ...warmUpFiles], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(run.stdout).toContain(`${files.length + warmUpFiles.length} passed, 0 failed`);
  expect(run.status).toBe(0);
}, 150_000);
