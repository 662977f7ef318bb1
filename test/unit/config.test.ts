/** Configuration parsing: the latency settings and their defaults (pure logic). */
import { ConfigError, loadConfig, orderTaskQueueOf } from '../../src/config';

test('order-sending activities share the workflow queue unless a queue of their own is named', () => {
  expect(orderTaskQueueOf(loadConfig({}))).toBeUndefined();
  expect(orderTaskQueueOf(loadConfig({ TEMPORAL_ORDER_TASK_QUEUE: 'none' }))).toBeUndefined();
  expect(orderTaskQueueOf(loadConfig({ TEMPORAL_ORDER_TASK_QUEUE: 'orders' }))).toBe('orders');
});

test.each(['TEMPORAL_EAGER_START', 'WORKER_WARM_UP'] as const)('%s is on by default and can be switched off; a bad value names the variable', (name) => {
  expect(loadConfig({})[name]).toBe(true);
  expect(loadConfig({ [name]: 'true' })[name]).toBe(true);
  expect(loadConfig({ [name]: 'false' })[name]).toBe(false);
  expect(loadConfig({ [name]: '0' })[name]).toBe(false);
  expect(() => loadConfig({ [name]: 'yes' })).toThrow(ConfigError);
  expect(() => loadConfig({ [name]: 'yes' })).toThrow(new RegExp(name));
});
