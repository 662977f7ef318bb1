/**
 * `npm run build:workflows [-- --workflows <entry>] [-- --out <file>]`: writes the workflow bundle
 * a worker loads with TEMPORAL_WORKFLOW_BUNDLE, and prints its build id (stdout, alone on its line,
 * so `BUILD_ID=$(npm run -s build:workflows)` works; what was written goes to stderr).
 *
 * Pre-building is Temporal's recommended production practice: workers start without webpack, and
 * the code deployed is exactly the code hashed into the build id (docs/deploys.md). A deploy
 * rehearsal can bundle a changed entry (`--workflows`) as version B without touching workflows/.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { buildIdOf, bundleWorkflows } from '../worker/worker';

export { buildIdOf } from '../worker/worker';

export const DEFAULT_WORKFLOW_BUNDLE_FILE = 'dist/workflow-bundle.js';

export interface WriteWorkflowBundleOptions {
  /** The workflows entry (a directory with index.ts, or a file); default `workflows/`. */
  workflowsPath?: string;
  /** Where to write; default dist/workflow-bundle.js (relative paths: against the cwd). */
  outFile?: string;
}

/** Bundles the workflows and writes them (atomically: a worker starting meanwhile never reads half a file). */
export async function writeWorkflowBundle(o: WriteWorkflowBundleOptions = {}): Promise<{ outFile: string; buildId: string }> {
  const outFile = path.resolve(o.outFile ?? DEFAULT_WORKFLOW_BUNDLE_FILE);
  // The bundler's own messages (webpack's summary, warnings) stay off stdout, which carries the build id.
  const logger = new DefaultLogger('WARN', (e: LogEntry) => void process.stderr.write(`[bundle] ${e.level} ${e.message}\n`));
  const { code } = await bundleWorkflows({ ...(o.workflowsPath !== undefined ? { workflowsPath: path.resolve(o.workflowsPath) } : {}), logger });
  await fs.mkdir(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  await fs.writeFile(tmp, code, 'utf8');
  await fs.rename(tmp, outFile);
  return { outFile, buildId: buildIdOf(code) };
}

const USAGE = `usage: build-workflow-bundle [--workflows <path>] [--out <file>]
  --workflows  workflows entry to bundle (default: workflows/)
  --out        file to write (default: ${DEFAULT_WORKFLOW_BUNDLE_FILE})
Prints the bundle's build id (TEMPORAL_WORKER_BUILD_ID's default) on stdout.`;

/** Parses `--workflows <p>`, `--out <f>` (also `--out=<f>`); undefined for --help. */
export function parseArgs(argv: readonly string[]): WriteWorkflowBundleOptions | undefined {
  const out: WriteWorkflowBundleOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return undefined;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag !== '--workflows' && flag !== '--out') throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    const value = inline ?? argv[++i];
    if (!value) throw new Error(`${flag} needs a value`);
    if (flag === '--workflows') out.workflowsPath = value;
    else out.outFile = value;
  }
  return out;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: WriteWorkflowBundleOptions | undefined;
  try {
    options = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`build-workflow-bundle: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { outFile, buildId } = await writeWorkflowBundle(options);
  const size = (await fs.stat(outFile)).size;
  process.stderr.write(`wrote ${outFile} (${size} bytes), build id ${buildId}\n  run workers with TEMPORAL_WORKFLOW_BUNDLE=${outFile}\n`);
  process.stdout.write(`${buildId}\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`build-workflow-bundle: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
