/**
 * Issue 13: a Binance error code this service does not know (one Binance adds after the table in
 * src/exchange/errors.ts was written) is classified unknown_outcome and its message kept: the
 * request is never assumed refused before the order is proven absent. But it is an answer, not
 * silence: once its recvWindow has passed and the order is absent, the submission ends as a
 * refusal instead of being sent again, and an amend reads the order back instead of looping.
 * Real stack; the paper exchange answers with the code (fault `errorCode`).
 */
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const NEW_CODE = { kind: 'errorCode' as const, code: -2099, msg: 'A refusal this client has never heard of.' };

const h = useTradeHarness({ name: 'unlisted' });

const count = (route: string): number => h.paper.requestCounts()[route] ?? 0;

test('a MARKET order answered with an unknown code is settled once and ends rejected, with Binance\'s words; it is never sent again', async () => {
  h.paper.faults.inject({ ...NEW_CODE, method: 'POST', path: '/api/v3/order', times: 5 });
  const before = count('POST /api/v3/order');
  const handle = await h.start({ decision_id: h.id('market') });
  const final = await h.result(handle);
  expect(final.status).toBe('rejected');
  expect(final.error).toContain('-2099');
  expect(final.error).toContain('A refusal this client has never heard of.');
  expect(count('POST /api/v3/order') - before).toBe(1);
  expect(h.paper.findOrder(BTC, final.orders[0]!.intent.clientOrderId)).toBeUndefined();
});

test('an amend answered with an unknown code is answered as refused, the order read back unchanged; the trade goes on', async () => {
  const handle = await h.start({ decision_id: h.id('amend'), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.002', timeout_ms: 60_000 });
  const id = await eventually('the LIMIT resting', async () => {
    const s = await h.state(handle);
    const cid = s.orders[0]?.intent.clientOrderId;
    return cid && h.paper.findOrder(BTC, cid)?.status === 'NEW' ? cid : undefined;
  }, 30_000);
  h.paper.faults.inject({ ...NEW_CODE, method: 'PUT', path: '/api/v3/order/amend/keepPriority', times: 100 });
  const answer = await handle.executeUpdate('amend', { args: [{ quantity: '0.001' }] }).then(
    () => 'accepted',
    (err: unknown) => String((err as { cause?: { message?: string } }).cause?.message ?? err),
  );
  expect(answer).toMatch(/amend refused by the exchange/);
  expect(count('PUT /api/v3/order/amend/keepPriority')).toBeLessThanOrEqual(2);
  expect(h.paper.findOrder(BTC, id)?.origQty).toBe('0.00200000');
  h.paper.faults.clear();
  await handle.executeUpdate('cancel', { args: [{ reason: 'test done' }] });
  expect((await h.result(handle)).status).toBe('cancelled');
});
