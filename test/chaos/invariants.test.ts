/**
 * The chaos test's invariant checks can fail: each is fed a small hand-made snapshot that breaks
 * it (and a clean one that breaks nothing). Pure: no services are touched.
 */
import {
  atMostOneExchangeOrderPerIntent,
  checkInvariants,
  countByInvariant,
  everyTradeTerminalWithReason,
  executedWithinApproved,
  failedTradeHasNoLiveOrder,
  fillsMatchExchangeTrades,
  formatViolations,
  noOpenOrderWithoutRunningWorkflow,
  oneClosedWorkflowPerDecision,
  oneFinalReportPerDecision,
  ownerIndex,
  reportedFilledMatchesExchange,
  UNKNOWN_DECISION,
  type ChaosSnapshot,
} from './invariants';

/**
 * Two trades that went right: d1 a MARKET BUY 0.002 filled in two trades; d2 a LIMIT BUY 0.003
 * amended to a replacement (-r1) that filled 0.002 after the original filled 0.001, then a
 * bracket (-b1a/-b1b) whose take-profit leg filled.
 */
function clean(): ChaosSnapshot {
  return {
    decisions: [
      { decisionId: 'd1', kind: 'market', side: 'BUY', symbol: 'BTCUSDT', approvedSize: '0.002' },
      { decisionId: 'd2', kind: 'amend', side: 'BUY', symbol: 'BTCUSDT', approvedSize: '0.003' },
    ],
    runs: [
      { workflowId: 'trade-d1', runId: 'r1', status: 'COMPLETED' },
      { workflowId: 'trade-d2', runId: 'r2a', status: 'CONTINUED_AS_NEW' },
      { workflowId: 'trade-d2', runId: 'r2b', status: 'COMPLETED' },
    ],
    outcomes: [
      { workflowId: 'trade-d1', tradeStatus: 'filled', error: null, source: 'result' },
      { workflowId: 'trade-d2', tradeStatus: 'filled', error: null, source: 'result' },
    ],
    exchangeOrders: [
      { symbol: 'BTCUSDT', orderId: 1, clientOrderId: 'te-d1-e', side: 'BUY', type: 'MARKET', status: 'FILLED', origQty: '0.002', executedQty: '0.002' },
      { symbol: 'BTCUSDT', orderId: 2, clientOrderId: 'te-d2-e', side: 'BUY', type: 'LIMIT', status: 'CANCELED', origQty: '0.003', executedQty: '0.001' },
      { symbol: 'BTCUSDT', orderId: 3, clientOrderId: 'te-d2-r1', side: 'BUY', type: 'LIMIT', status: 'FILLED', origQty: '0.002', executedQty: '0.00200000' },
      { symbol: 'BTCUSDT', orderId: 4, clientOrderId: 'te-d2-b1a', side: 'SELL', type: 'LIMIT_MAKER', status: 'FILLED', origQty: '0.00299', executedQty: '0.00299' },
      { symbol: 'BTCUSDT', orderId: 5, clientOrderId: 'te-d2-b1b', side: 'SELL', type: 'STOP_LOSS_LIMIT', status: 'EXPIRED', origQty: '0.00299', executedQty: '0' },
    ],
    exchangeTrades: [
      { symbol: 'BTCUSDT', id: 10, orderId: 1, qty: '0.0015' },
      { symbol: 'BTCUSDT', id: 11, orderId: 1, qty: '0.0005' },
      { symbol: 'BTCUSDT', id: 12, orderId: 2, qty: '0.001' },
      { symbol: 'BTCUSDT', id: 13, orderId: 3, qty: '0.002' },
      { symbol: 'BTCUSDT', id: 14, orderId: 4, qty: '0.00299' },
    ],
    pgOrders: [
      { clientOrderId: 'te-d1-e', decisionId: 'd1', purpose: 'entry', side: 'BUY', exchangeOrderId: 1, status: 'FILLED', executedQty: '0.002' },
      { clientOrderId: 'te-d2-e', decisionId: 'd2', purpose: 'entry', side: 'BUY', exchangeOrderId: 2, status: 'CANCELED', executedQty: '0.001' },
      { clientOrderId: 'te-d2-r1', decisionId: 'd2', purpose: 'replacement', side: 'BUY', exchangeOrderId: 3, status: 'FILLED', executedQty: '0.002' },
      { clientOrderId: 'te-d2-b1a', decisionId: 'd2', purpose: 'bracket', side: 'SELL', exchangeOrderId: 4, status: 'FILLED', executedQty: '0.00299' },
      { clientOrderId: 'te-d2-b1b', decisionId: 'd2', purpose: 'bracket', side: 'SELL', exchangeOrderId: 5, status: 'EXPIRED', executedQty: '0' },
    ],
    pgFills: [
      { symbol: 'BTCUSDT', tradeId: 10, exchangeOrderId: 1, clientOrderId: 'te-d1-e', qty: '0.0015' },
      { symbol: 'BTCUSDT', tradeId: 11, exchangeOrderId: 1, clientOrderId: 'te-d1-e', qty: '0.00050000' },
      { symbol: 'BTCUSDT', tradeId: 12, exchangeOrderId: 2, clientOrderId: 'te-d2-e', qty: '0.001' },
      { symbol: 'BTCUSDT', tradeId: 13, exchangeOrderId: 3, clientOrderId: 'te-d2-r1', qty: '0.002' },
      { symbol: 'BTCUSDT', tradeId: 14, exchangeOrderId: 4, clientOrderId: 'te-d2-b1a', qty: '0.00299' },
    ],
    pgReports: [
      { reportId: 'trade-d1:1', decisionId: 'd1', reportType: 'trade', status: 'filled', published: true },
      { reportId: 'trade-d2:1', decisionId: 'd2', reportType: 'trade', status: 'filled', published: true },
    ],
    pgDecisions: [
      { decisionId: 'd1', status: 'completed', error: null },
      { decisionId: 'd2', status: 'completed', error: null },
    ],
    streamReports: [
      { streamId: '1-0', reportId: 'trade-d1:1', decisionId: 'd1', status: 'filled', success: true, error: null, filledQuantity: '0.002' },
      { streamId: '2-0', reportId: 'trade-d2:1', decisionId: 'd2', status: 'filled', success: true, error: null, filledQuantity: '0.003' },
    ],
  };
}

const reportOf = (s: ChaosSnapshot, decisionId: string) => s.streamReports.find((r) => r.decisionId === decisionId)!;
const orderOf = (s: ChaosSnapshot, cid: string) => s.exchangeOrders.find((o) => o.clientOrderId === cid)!;

test('a clean snapshot breaks no invariant (decimals compared exactly, not as strings)', () => {
  const s = clean();
  expect(checkInvariants(s)).toEqual([]);
  expect(Object.values(countByInvariant([])).every((n) => n === 0)).toBe(true);
});

test('ownerIndex: Postgres row first, then the readable client order id, else unknown', () => {
  const s = clean();
  const owner = ownerIndex(s);
  expect(owner('te-d2-r1')).toEqual({ decisionId: 'd2', purpose: 'replacement' });
  // Not in Postgres (never recorded), but readable and ours:
  expect(owner('te-d1-x2')).toEqual({ decisionId: 'd1', purpose: 'close' });
  expect(owner('te-d2-b3b')).toEqual({ decisionId: 'd2', purpose: 'bracket' });
  expect(owner('te-nobody-e')).toEqual({ decisionId: UNKNOWN_DECISION, purpose: 'unknown' });
  expect(owner('web_abc123')).toEqual({ decisionId: UNKNOWN_DECISION, purpose: 'unknown' });
  // The exchange gave the order another client order id (amend keepPriority without newClientOrderId):
  // the exchange order id Postgres recorded still names the decision.
  expect(owner('QM1gjzujwpn_jMXDThUJhA', 3)).toEqual({ decisionId: 'd2', purpose: 'replacement' });
  expect(owner('QM1gjzujwpn_jMXDThUJhA', 999)).toEqual({ decisionId: UNKNOWN_DECISION, purpose: 'unknown' });
});

test('an order renamed by the exchange still counts toward its trade and is an orphan when its workflow closed', () => {
  const s = clean();
  const o = orderOf(s, 'te-d2-r1');
  o.clientOrderId = 'QM1gjzujwpn_jMXDThUJhA';
  o.status = 'NEW';
  o.executedQty = '0.0025';
  expect(executedWithinApproved(s).map((v) => [v.decisionId, v.figures.executed])).toEqual([['d2', '0.0035']]);
  expect(noOpenOrderWithoutRunningWorkflow(s).map((v) => [v.decisionId, v.figures.clientOrderId])).toEqual([['d2', 'QM1gjzujwpn_jMXDThUJhA']]);
});

describe('one closed workflow per decision', () => {
  test('a decision without a workflow, one still running, and one started twice are each reported', () => {
    const s = clean();
    s.decisions.push({ decisionId: 'd3', kind: 'market', side: 'SELL', symbol: 'BTCUSDT', approvedSize: '0.001' });
    s.runs = s.runs.filter((r) => r.workflowId !== 'trade-d1');
    s.runs.push({ workflowId: 'trade-d1', runId: 'x', status: 'RUNNING' });
    s.runs.push({ workflowId: 'trade-d2', runId: 'r2c', status: 'FAILED' });
    const v = oneClosedWorkflowPerDecision(s);
    expect(v.map((x) => [x.decisionId, x.detail])).toEqual([
      ['d1', 'workflow is RUNNING, not closed'],
      ['d2', '2 separate workflow runs (expected one chain ending once)'],
      ['d3', 'no workflow was ever started for the decision'],
    ]);
    expect(v[1]!.figures.runs).toEqual(['r2a:CONTINUED_AS_NEW', 'r2b:COMPLETED', 'r2c:FAILED']);
  });

  test('a chain of continue-as-new runs ending in a closed run is one workflow', () => {
    const s = clean();
    s.runs.unshift({ workflowId: 'trade-d2', runId: 'r2z', status: 'CONTINUED_AS_NEW' });
    expect(oneClosedWorkflowPerDecision(s)).toEqual([]);
  });
});

test('at most one exchange order per intent: a reused client order id is a second order', () => {
  const s = clean();
  s.exchangeOrders.push({ ...orderOf(s, 'te-d1-e'), orderId: 99, status: 'FILLED' });
  s.exchangeOrders.push({ ...orderOf(s, 'te-d2-r1'), orderId: 98, status: 'NEW', executedQty: '0' });
  const v = atMostOneExchangeOrderPerIntent(s);
  expect(v.map((x) => x.decisionId)).toEqual(['d1', 'd2']);
  expect(v[0]!.detail).toBe('2 exchange orders carry client order id te-d1-e (BTCUSDT)');
  expect(v[0]!.figures.orders).toEqual([
    { orderId: 1, status: 'FILLED', origQty: '0.002', executedQty: '0.002' },
    { orderId: 99, status: 'FILLED', origQty: '0.002', executedQty: '0.002' },
  ]);
});

describe('no open exchange order without a running workflow', () => {
  test('an open order of a closed trade and a stranger order are orphans', () => {
    const s = clean();
    s.exchangeOrders.push({ symbol: 'BTCUSDT', orderId: 50, clientOrderId: 'te-d1-x1', side: 'BUY', type: 'LIMIT', status: 'NEW', origQty: '0.001', executedQty: '0' });
    s.exchangeOrders.push({ symbol: 'BTCUSDT', orderId: 51, clientOrderId: 'manual-1', side: 'SELL', type: 'LIMIT', status: 'PARTIALLY_FILLED', origQty: '1', executedQty: '0.5' });
    const v = noOpenOrderWithoutRunningWorkflow(s);
    expect(v.map((x) => [x.decisionId, x.figures.clientOrderId, x.figures.status])).toEqual([
      ['d1', 'te-d1-x1', 'NEW'],
      [UNKNOWN_DECISION, 'manual-1', 'PARTIALLY_FILLED'],
    ]);
    expect(v[0]!.detail).toContain('its workflow is COMPLETED');
  });

  test('an open order whose workflow still runs is owned', () => {
    const s = clean();
    s.runs = s.runs.map((r) => (r.runId === 'r1' ? { ...r, status: 'RUNNING' } : r));
    orderOf(s, 'te-d1-e').status = 'NEW';
    expect(noOpenOrderWithoutRunningWorkflow(s)).toEqual([]);
  });
});

describe('executed <= approved per trade', () => {
  test('an amend whose replacement filled in full after the original had filled part', () => {
    const s = clean();
    orderOf(s, 'te-d2-r1').executedQty = '0.00200001';
    const v = executedWithinApproved(s);
    expect(v).toHaveLength(1);
    expect(v[0]!.decisionId).toBe('d2');
    expect(v[0]!.figures.executed).toBe('0.00300001');
    expect(v[0]!.detail).toBe('entry orders executed 0.00300001 of an approved 0.003 (0.00000001 too much)');
  });

  test('bracket legs (the exit) do not count toward the entry; a close-now order does', () => {
    const s = clean();
    orderOf(s, 'te-d2-b1a').executedQty = '5';
    expect(executedWithinApproved(s)).toEqual([]);
    s.exchangeOrders.push({ symbol: 'BTCUSDT', orderId: 60, clientOrderId: 'te-d1-x1', side: 'BUY', type: 'MARKET', status: 'FILLED', origQty: '0.001', executedQty: '0.001' });
    expect(executedWithinApproved(s).map((v) => [v.decisionId, v.figures.executed])).toEqual([['d1', '0.003']]);
  });
});

describe('Postgres fills == exchange trades per order', () => {
  test('a trade never booked, a fill the exchange never made, and a booked quantity that differs', () => {
    const s = clean();
    s.pgFills = s.pgFills.filter((f) => f.tradeId !== 11); // missing in Postgres
    s.pgFills.push({ symbol: 'BTCUSDT', tradeId: 77, exchangeOrderId: 3, clientOrderId: 'te-d2-r1', qty: '0.001' }); // not on exchange
    s.pgFills.find((f) => f.tradeId === 14)!.qty = '0.003'; // same id, other quantity
    const v = fillsMatchExchangeTrades(s);
    expect(v.map((x) => [x.decisionId, x.figures.clientOrderId])).toEqual([
      ['d1', 'te-d1-e'],
      ['d2', 'te-d2-r1'],
      ['d2', 'te-d2-b1a'],
    ]);
    expect(v[0]!.figures).toMatchObject({ exchangeQty: '0.002', postgresQty: '0.0015', tradeIdsMissingInPostgres: [11], tradeIdsNotOnExchange: [] });
    expect(v[1]!.figures).toMatchObject({ tradeIdsNotOnExchange: [77] });
    expect(v[2]!.figures).toMatchObject({ exchangeQty: '0.00299', postgresQty: '0.003' });
  });

  test('a MARKET order FILLED on the exchange with no fill booked (issue 11 item 1)', () => {
    const s = clean();
    s.pgFills = s.pgFills.filter((f) => f.exchangeOrderId !== 1);
    const v = fillsMatchExchangeTrades(s);
    expect(v).toHaveLength(1);
    expect(v[0]!.detail).toBe('order BTCUSDT#1 (te-d1-e): exchange traded 0.002 in 2 trades, Postgres booked 0 in 0');
  });
});

test('exactly one final report per decision: none, and two', () => {
  const s = clean();
  s.streamReports = s.streamReports.filter((r) => r.decisionId !== 'd1');
  s.streamReports.push({ ...reportOf(s, 'd2'), streamId: '3-0', status: 'cancelled' });
  const v = oneFinalReportPerDecision(s);
  expect(v.map((x) => [x.decisionId, x.detail])).toEqual([
    ['d1', '0 final reports on trade_executions (1 stored in execution_reports, 1 marked published)'],
    ['d2', '2 final reports on trade_executions (1 stored in execution_reports, 1 marked published)'],
  ]);
});

describe('every trade terminal with a reason', () => {
  test('a cancelled report without an error, a non-terminal status, and no outcome at all', () => {
    const s = clean();
    s.decisions.push({ decisionId: 'd3', kind: 'limit_timeout', side: 'BUY', symbol: 'BTCUSDT', approvedSize: '0.001' });
    Object.assign(reportOf(s, 'd1'), { status: 'cancelled', success: false, error: null });
    Object.assign(reportOf(s, 'd2'), { status: 'working', success: false, error: 'x' });
    const v = everyTradeTerminalWithReason(s);
    expect(v.map((x) => [x.decisionId, x.detail])).toEqual([
      ['d1', 'ended cancelled without a reason (error is null)'],
      ['d2', 'ended in non-terminal status working'],
      ['d3', 'no final report and no workflow state: the outcome is unknown'],
    ]);
  });

  test('without a report the workflow state decides; an empty error is no reason', () => {
    const s = clean();
    s.streamReports = s.streamReports.filter((r) => r.decisionId !== 'd1');
    s.outcomes[0] = { workflowId: 'trade-d1', tradeStatus: 'failed', error: '  ', source: 'query' };
    expect(everyTradeTerminalWithReason(s).map((v) => v.detail)).toEqual(['ended failed without a reason (error is "  ")']);
    s.outcomes[0] = { workflowId: 'trade-d1', tradeStatus: 'failed', error: 'exchange unreachable', source: 'query' };
    expect(everyTradeTerminalWithReason(s)).toEqual([]);
  });
});

test('a failed trade has no live order', () => {
  const s = clean();
  Object.assign(reportOf(s, 'd2'), { status: 'failed', success: false, error: 'boom' });
  orderOf(s, 'te-d2-b1b').status = 'NEW';
  orderOf(s, 'te-d2-r1').status = 'PARTIALLY_FILLED';
  const v = failedTradeHasNoLiveOrder(s);
  expect(v).toHaveLength(1);
  expect(v[0]!.decisionId).toBe('d2');
  expect(v[0]!.detail).toBe('trade is failed but te-d2-r1 PARTIALLY_FILLED, te-d2-b1b NEW still live on the exchange');
  // The workflow's own state counts too, when the report says otherwise or is missing.
  const t = clean();
  t.outcomes[0] = { workflowId: 'trade-d1', tradeStatus: 'failed', error: 'x', source: 'query' };
  orderOf(t, 'te-d1-e').status = 'NEW';
  expect(failedTradeHasNoLiveOrder(t).map((x) => x.decisionId)).toEqual(['d1']);
});

test('reported filled == executed on the exchange: a cancelled, filled-0 report for an order that filled', () => {
  const s = clean();
  Object.assign(reportOf(s, 'd1'), { status: 'cancelled', success: false, error: 'workflow cancelled by operator', filledQuantity: '0' });
  const v = reportedFilledMatchesExchange(s);
  expect(v).toHaveLength(1);
  expect(v[0]!.detail).toBe('report says cancelled with 0 filled; the exchange executed 0.002');
});

test('checkInvariants lists every violation of every invariant, and the summary names each count', () => {
  const s = clean();
  s.pgFills = [];
  s.streamReports = [];
  const v = checkInvariants(s);
  const counts = countByInvariant(v);
  expect(counts['Postgres fills == exchange trades per order']).toBe(4);
  expect(counts['exactly one final report per decision']).toBe(2);
  expect(counts['one closed workflow per decision']).toBe(0);
  const text = formatViolations(v);
  expect(text).toContain('FAIL Postgres fills == exchange trades per order: 4');
  expect(text).toContain('ok   one closed workflow per decision: 0');
  expect(text.split('\n').filter((l) => l.startsWith('- ['))).toHaveLength(v.length);
});
