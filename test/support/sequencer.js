/**
 * jest's default order (failed first, then slowest first by the timings it keeps), with one
 * change: test/stack runs last. Those tests need the real Temporal server, which on a fresh
 * machine takes ~10 minutes to build; globalSetup starts that build in the background, and run
 * last, the stack tests find it done (or nearly) instead of waiting for it while nothing else runs.
 */
const Sequencer = require('@jest/test-sequencer').default;

const isStackTest = (test) => /[\\/]test[\\/]stack[\\/]/.test(test.path);

class StackLastSequencer extends Sequencer {
  async sort(tests) {
    const ordered = await super.sort(tests);
    return [...ordered.filter((t) => !isStackTest(t)), ...ordered.filter(isStackTest)];
  }
}

module.exports = StackLastSequencer;
