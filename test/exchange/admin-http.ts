/** The paper exchange's admin API over loopback HTTP, as a stack or chaos test would call it. */
import { request } from 'undici';

export interface AdminReply<T = unknown> {
  status: number;
  json: T;
}

export async function admin<T = unknown>(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, token?: string): Promise<AdminReply<T>> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const r = await request(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: r.statusCode, json: (await r.body.json()) as T };
}

/** POST /admin/faults; fails the test unless the exchange accepted the fault. Returns its id. */
export async function injectFault(url: string, fault: Record<string, unknown>, token?: string): Promise<number> {
  const r = await admin<{ id?: number; error?: string }>(url, 'POST', '/admin/faults', fault, token);
  if (r.status !== 200 || typeof r.json.id !== 'number') throw new Error(`fault ${JSON.stringify(fault)} refused: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.id;
}
