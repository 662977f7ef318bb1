/**
 * Replays saved workflow histories (JSON as `temporal workflow show --output json` or the UI's
 * download writes them) through the current workflow code, and exits non-zero if any of them
 * would take a different path: the check to run before deploying changed workflow code.
 *
 *   npx tsx src/operations/replay.ts test/replay/histories/*.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflows } from '../worker/worker';

async function main(files: string[]): Promise<number> {
  if (files.length === 0) {
    process.stderr.write('usage: replay <history.json>...\n');
    return 2;
  }
  const workflowBundle = await bundleWorkflows();
  const histories = files.map((f) => ({
    workflowId: path.basename(f, '.json'),
    history: historyFromJSON(JSON.parse(fs.readFileSync(f, 'utf8'))),
  }));
  let failed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (result.error) {
      failed++;
      process.stdout.write(`FAIL ${result.workflowId}: ${result.error.message}\n`);
    } else {
      process.stdout.write(`ok   ${result.workflowId}\n`);
    }
  }
  process.stdout.write(`${histories.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`replay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
