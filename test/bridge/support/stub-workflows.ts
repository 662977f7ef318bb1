/** Workflow code for the bridge tests' stub worker: TradeExecution closes at once, trading nothing. */
export async function TradeExecution(): Promise<string> {
  return 'stub';
}
