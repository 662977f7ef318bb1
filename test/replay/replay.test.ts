/**
 * Replays every saved history through today's workflow code. A change that would make a running
 * workflow take a different path (a non-determinism error) fails here, before it ships; guard
 * such changes with patched().
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { bundleWorkflows } from '../../src/worker/worker';

const DIR = path.join(__dirname, 'histories');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('there are saved histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(5);
});

test('every saved history replays without a non-determinism error', async () => {
  const bundle = await bundleWorkflows();
  const histories = files.map((f) => ({
    workflowId: f.replace(/\.json$/, ''),
    history: JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')),
  }));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
}, 120_000);
