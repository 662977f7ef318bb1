/**
 * Issue 12: zod and decimal.js stay out of the workflow bundle. With a reused V8 context every
 * new workflow evaluates the bundle's modules again, so each kilobyte here is paid per trade on
 * the workflow thread. Schemas belong at the boundary (bridge, activities); workflow code uses
 * src/shared/exact-decimal.ts and src/shared/decision-types.ts.
 */
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { bundleWorkflows } from '../../src/worker/worker';

/** Modules in the bundle (webpack's `/***\/ "./path"` markers), without the inline source map. */
function modulesOf(code: string): string[] {
  const end = code.indexOf('//# sourceMappingURL=');
  const body = end < 0 ? code : code.slice(0, end);
  return [...body.matchAll(/\/\*\*\*\/ "(\.\/[^"]+)"/g)].map((m) => m[1]!);
}

const FORBIDDEN = [/node_modules\/zod\//, /node_modules\/decimal\.js\//, /src\/shared\/decimal\.ts$/, /src\/shared\/decision\.ts$/];
const forbiddenIn = (modules: string[]) => modules.filter((m) => FORBIDDEN.some((re) => re.test(m)));

describe('workflow bundle', () => {
  jest.setTimeout(180_000);

  it('contains neither zod nor decimal.js (nor the modules that import them)', async () => {
    const { code } = await bundleWorkflows();
    const modules = modulesOf(code);
    expect(modules.length).toBeGreaterThan(10);
    expect(modules).toContain('./workflows/trade.ts');
    expect(forbiddenIn(modules)).toEqual([]);
    expect(/node_modules\/(zod|decimal\.js)\//.test(code.slice(0, code.indexOf('//# sourceMappingURL=')))).toBe(false);
  });

  it('the check finds them when a workflow does import them', async () => {
    const probe = path.resolve(__dirname, 'fixtures/workflow-importing-decimal');
    const { code } = await bundleWorkflowCode({ workflowsPath: probe, logger: undefined });
    expect(forbiddenIn(modulesOf(code)).join(' ')).toMatch(/zod.*decimal|decimal.*zod/);
  });
});
