/** Configuration parsing: the latency settings and their defaults (pure logic). */
import { ConfigError, loadConfig, orderTaskQueueOf } from '../../src/config';

test('order-sending activities share the workflow queue unless a queue of their own is named', () => {
  expect(orderTaskQueueOf(loadConfig({}))).toBeUndefined();
  expect(orderTaskQueueOf(loadConfig({ TEMPORAL_ORDER_TASK_QUEUE: 'none' }))).toBeUndefined();
  expect(orderTaskQueueOf(loadConfig({ TEMPORAL_ORDER_TASK_QUEUE: 'orders' }))).toBe('orders');
});

test('eager start is on by default and can be switched off; a bad value names the variable', () => {
  expect(loadConfig({}).TEMPORAL_EAGER_START).toBe(true);
  expect(loadConfig({ TEMPORAL_EAGER_START: 'false' }).TEMPORAL_EAGER_START).toBe(false);
  expect(loadConfig({ TEMPORAL_EAGER_START: '0' }).TEMPORAL_EAGER_START).toBe(false);
  expect(() => loadConfig({ TEMPORAL_EAGER_START: 'yes' })).toThrow(ConfigError);
  expect(() => loadConfig({ TEMPORAL_EAGER_START: 'yes' })).toThrow(/TEMPORAL_EAGER_START/);
});
