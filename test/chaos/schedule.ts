/**
 * The chaos schedule, derived from a seed and nothing else: which decisions are sent when, what
 * an operator does to them, when the worker and the bridge are SIGKILLed, when Temporal
 * restarts, which exchange faults are injected, and how the price moves. Pure, so a failing seed
 * gives the same schedule again (outcomes still depend on timing: the schedule is replayed,
 * not the interleaving).
 *
 * Prices (BTCUSDT, tick 0.01; the paper exchange's price walk is off, only this moves it):
 *   BASE 60000       where the market rests
 *   FILL 59900       resting LIMIT BUYs meant to fill (touched: partial fill; crossed: full)
 *   REST 59700       resting LIMIT BUYs that an operator amends, closes or cancels
 *   FAR  55000       LIMIT BUYs meant to time out (the price never goes there)
 *   TP   60500       a bracket's take-profit (its LIMIT_MAKER SELL fills when the price spikes past it)
 *   SL   58000       a bracket's stop-loss (never reached)
 */
import { prng, type Prng } from '../../src/shared/prng';

export const PRICES = {
  BASE: '60000.00',
  FILL: '59900.00',
  REST: '59700.00',
  FAR: '55000.00',
  TP: '60500.00',
  SL: '58000.00',
  /** Crosses FILL and REST: resting BUYs fill in full. */
  DIP: '59650.00',
  /** Crosses TP: brackets' take-profit legs fill. */
  SPIKE: '60600.00',
} as const;

export const DECISION_KINDS = [
  'market',
  'limit_fill',
  'limit_timeout',
  'bracket',
  'amend',
  'close',
  'cancel_placing',
  'cancel_resting',
  'cancel_amending',
  'cancel_bracketing',
  'protected',
] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** What an operator does to a trade, and when. */
export interface OperatorAction {
  /** cancel: workflow cancellation as the Temporal UI's Request Cancellation does (handle.cancel()); amend, closeNow: the updates. */
  kind: 'cancel' | 'amend' | 'closeNow';
  /**
   * placing: `delayMs` after the workflow exists (its entry is being placed);
   * resting: `delayMs` after the entry rests on the exchange;
   * filled: `delayMs` after the entry filled (its bracket is being placed).
   */
  when: 'placing' | 'resting' | 'filled';
  delayMs: number;
  /** The amend request. */
  request?: { price?: string; quantity?: string };
  /** Injected just before (for `placing`: just before the decision is sent), to slow the request the action races with. */
  fault?: PlannedFault['fault'];
  /** Fill this much of the resting entry (the paper exchange's POST /admin/fill) just before the action: issue 11 item 2's race. */
  fillFirst?: string;
  /** Then cancel the workflow this long after the action was sent, without waiting for the action's answer. */
  thenCancelAfterMs?: number;
}

export interface PlannedDecision {
  index: number;
  /** ms after the chaos phase starts. */
  at: number;
  kind: DecisionKind;
  /** The stream entry's fields, less decision_id and timestamp (added when sent). */
  fields: Record<string, unknown>;
  action?: OperatorAction;
}

export type ChaosRole = 'worker' | 'bridge';

export interface PlannedKill {
  at: number;
  role: ChaosRole;
  /** How long it stays dead before it is started again. */
  downMs: number;
}

export interface PlannedFault {
  at: number;
  /** A FaultInput for the paper exchange's FaultInjector. */
  fault: Record<string, unknown> & { kind: string };
}

export interface PlannedPrice {
  at: number;
  price: string;
}

export interface ChaosPlan {
  seed: number;
  /** Length of the chaos phase (decisions, kills, faults and prices all fall inside it). */
  durationMs: number;
  decisions: PlannedDecision[];
  kills: PlannedKill[];
  temporalRestart: { at: number; downMs: number };
  faults: PlannedFault[];
  prices: PlannedPrice[];
}

export interface PlanOptions {
  seed: number;
  decisions: number;
  /** Fault kinds the paper exchange accepts (feature check): newer kinds are used when present. */
  faultKinds: ReadonlySet<string>;
  /** One long exchange outage (issue 11 item 4: two to three minutes), at 40 % of the phase. */
  longOutageMs?: number;
}

/** Roughly how often each kind comes up after the first of each (which every plan has). */
const KIND_WEIGHTS: Record<DecisionKind, number> = {
  market: 4,
  limit_fill: 3,
  limit_timeout: 2,
  bracket: 3,
  amend: 3,
  close: 2,
  cancel_placing: 3,
  cancel_resting: 1,
  cancel_amending: 2,
  cancel_bracketing: 2,
  protected: 2,
};

const ORDER = '/api/v3/order';
const OCO = '/api/v3/orderList/oco';
const REPLACE = '/api/v3/order/cancelReplace';
const LIST = '/api/v3/orderList';

export function planChaos(o: PlanOptions): ChaosPlan {
  if (o.decisions < 1) throw new Error(`decisions: must be at least 1, got ${o.decisions}`);
  // Separate streams per concern: a new fault kind must not change the decisions of a seed.
  const { prngFor } = makeStreams(o.seed);
  // About 1.8 s between decisions on average, so the trades overlap the kills and the restart.
  const durationMs = Math.max(30_000, o.decisions * 1_800);
  const decisions = planDecisions(prngFor('decisions'), o.decisions, durationMs);
  const kills = [...planKills(prngFor('kills:worker'), 'worker', durationMs, o.decisions), ...planKills(prngFor('kills:bridge'), 'bridge', durationMs, o.decisions)].sort(
    (a, b) => a.at - b.at,
  );
  const t = prngFor('temporal');
  const temporalRestart = { at: t.int(Math.round(durationMs * 0.3), Math.round(durationMs * 0.7)), downMs: t.int(2_000, 6_000) };
  const faults = planFaults(prngFor('faults'), durationMs, o.decisions, o.faultKinds);
  if (o.longOutageMs) {
    if (!o.faultKinds.has('outage')) throw new Error('longOutageMs: this paper exchange has no outage fault');
    faults.push({ at: Math.round(durationMs * 0.4), fault: { kind: 'outage', ms: o.longOutageMs, mode: 'http503' } });
    faults.sort((a, b) => a.at - b.at);
  }
  const prices = planPrices(prngFor('prices'), durationMs);
  return { seed: o.seed, durationMs, decisions, kills, temporalRestart, faults, prices };
}

function makeStreams(seed: number): { prngFor(label: string): Prng } {
  const base = prng(seed);
  return { prngFor: (label) => base.fork(label) };
}

function planDecisions(r: Prng, n: number, durationMs: number): PlannedDecision[] {
  // Every kind once (when n allows), the rest by weight, in a random order.
  const weighted = DECISION_KINDS.flatMap((k) => Array.from({ length: KIND_WEIGHTS[k] }, () => k));
  const kinds: DecisionKind[] = [...DECISION_KINDS].slice(0, n);
  while (kinds.length < n) kinds.push(r.pick(weighted));
  const order = r.shuffle(kinds);
  // The last decision leaves a fifth of the phase for its operator action to land in the chaos.
  const times = order.map(() => r.int(0, Math.round(durationMs * 0.8))).sort((a, b) => a - b);
  return order.map((kind, index) => ({ index, at: times[index]!, kind, ...decisionFor(r, kind) }));
}

function decisionFor(r: Prng, kind: DecisionKind): Pick<PlannedDecision, 'fields' | 'action'> {
  const buy = { symbol: 'BTCUSDT', decision: 'approve', original_signal: 2, reasons: [] as string[] };
  const size = (lo: number, hi: number) => (r.int(lo, hi) / 1000).toFixed(3);
  const resting = (approved: string) => ({ ...buy, approved_size: approved, order_type: 'LIMIT', limit_price: PRICES.REST, timeout_ms: 120_000 });
  // The same draws whatever the paper exchange supports: the executor falls back when a kind is missing.
  const slowly = (path: string): PlannedFault['fault'] =>
    r.chance(0.5)
      ? { kind: 'delayedResponse', ms: r.int(300, 2_000), method: 'POST', path, times: 1 }
      : { kind: 'latency', ms: r.int(300, 2_000), method: 'POST', path, times: 1 };
  const fillFirst = () => (r.chance(0.6) ? r.pick(['0.0005', '0.001']) : undefined);
  switch (kind) {
    case 'market': {
      const sell = r.chance(0.4);
      return {
        fields: { ...buy, decision: r.chance(0.2) ? 'modify' : 'approve', original_signal: sell ? 0 : 2, approved_size: size(1, 2), order_type: 'MARKET' },
      };
    }
    case 'limit_fill':
      return { fields: { ...buy, approved_size: size(1, 3), order_type: 'LIMIT', limit_price: PRICES.FILL, timeout_ms: 120_000 } };
    case 'limit_timeout':
      return { fields: { ...buy, approved_size: '0.001', order_type: 'LIMIT', limit_price: PRICES.FAR, timeout_ms: r.int(8, 25) * 1000 } };
    case 'bracket':
      return { fields: { ...buy, approved_size: size(1, 2), order_type: 'MARKET', take_profit: PRICES.TP, stop_loss: PRICES.SL } };
    case 'amend': {
      const approved = size(2, 3);
      const request = r.pick([{ price: PRICES.FILL }, { quantity: '0.0015' }, { price: PRICES.FILL, quantity: approved }, { price: '59750.00', quantity: '0.002' }]);
      return { fields: resting(approved), action: { kind: 'amend', when: 'resting', delayMs: r.int(0, 4_000), request, fillFirst: fillFirst() } };
    }
    case 'close':
      return { fields: resting(size(2, 3)), action: { kind: 'closeNow', when: 'resting', delayMs: r.int(0, 4_000), fillFirst: fillFirst() } };
    case 'cancel_placing': {
      const limit = r.chance(0.5);
      return {
        fields: limit ? resting('0.001') : { ...buy, approved_size: '0.001', order_type: 'MARKET' },
        action: { kind: 'cancel', when: 'placing', delayMs: r.int(0, 250), fault: r.chance(0.8) ? slowly(ORDER) : undefined },
      };
    }
    case 'cancel_resting':
      return { fields: resting(size(1, 2)), action: { kind: 'cancel', when: 'resting', delayMs: r.int(0, 3_000) } };
    case 'cancel_amending':
      // Cancelled while the cancel-replace is on the wire: its replacement (-r1) must not be left open.
      return {
        fields: resting('0.002'),
        action: { kind: 'amend', when: 'resting', delayMs: r.int(0, 1_500), request: { price: '59800.00' }, fault: slowly(REPLACE), thenCancelAfterMs: r.int(30, 400) },
      };
    case 'protected':
      // A LIMIT entry with both levels goes out as one OPOCO: the pair is placed by the exchange at the fill.
      return { fields: { ...resting(size(1, 2)), take_profit: PRICES.TP, stop_loss: PRICES.SL } };
    case 'cancel_bracketing':
      // Cancelled while the protective OCO is on the wire: neither leg may be left open.
      return {
        fields: { ...buy, approved_size: '0.001', order_type: 'MARKET', take_profit: PRICES.TP, stop_loss: PRICES.SL },
        action: { kind: 'cancel', when: 'filled', delayMs: r.int(0, 200), fault: slowly(OCO) },
      };
  }
}

function planKills(r: Prng, role: ChaosRole, durationMs: number, n: number): PlannedKill[] {
  // About one kill per 9 decisions for the worker, per 12 for the bridge; at least two each.
  const count = Math.max(2, Math.round(n / (role === 'worker' ? 9 : 12)));
  // Spread over the phase in equal slots, so that restarts (which take seconds) do not pile up.
  const slot = durationMs / count;
  return Array.from({ length: count }, (_, i) => ({
    at: Math.round(i * slot + r.int(0, Math.round(slot * 0.6))),
    role,
    downMs: r.int(200, 3_000),
  }));
}

function planFaults(r: Prng, durationMs: number, n: number, kinds: ReadonlySet<string>): PlannedFault[] {
  type Maker = () => PlannedFault['fault'];
  const makers: Maker[] = [
    () => ({ kind: 'latency', ms: r.int(200, 2_500), method: 'POST', path: r.pick([ORDER, ORDER, OCO, REPLACE]), times: r.int(1, 3) }),
    () => ({ kind: 'http5xx', status: r.pick([500, 502, 503]), afterPlaced: r.chance(0.7), method: 'POST', path: r.pick([ORDER, ORDER, OCO]), times: 1 }),
    () => ({ kind: 'timeout1007', afterPlaced: true, method: 'POST', path: r.pick([ORDER, OCO, REPLACE]), times: 1 }),
    () => ({ kind: 'dropConnection', afterPlaced: true, method: r.pick(['POST', 'DELETE']), path: r.pick([ORDER, REPLACE, LIST]), times: 1 }),
    () => ({ kind: 'rateLimit429', retryAfterSec: 1, times: r.int(1, 4) }),
    () => ({ kind: 'http5xx', status: 503, afterPlaced: false, method: 'GET', path: ORDER, times: r.int(1, 3) }),
  ];
  // Newer kinds (issue 11's "the paper exchange must produce each situation"), when present.
  if (kinds.has('delayedResponse')) makers.push(() => ({ kind: 'delayedResponse', ms: r.int(1_000, 12_000), method: 'POST', path: r.pick([ORDER, OCO, REPLACE]), times: 1 }));
  if (kinds.has('lateLanding')) makers.push(() => ({ kind: 'lateLanding', ms: r.int(200, 2_500), method: 'POST', path: r.pick([ORDER, OCO]), times: 1 }));
  if (kinds.has('matchingDelay')) makers.push(() => ({ kind: 'matchingDelay', ms: r.int(500, 4_000), method: 'POST', path: ORDER, times: 1 }));
  if (kinds.has('outage')) makers.push(() => ({ kind: 'outage', ms: r.int(2_000, 15_000), mode: r.pick(['http503', 'dropConnection']) }));
  if (kinds.has('invalidApiKey')) makers.push(() => ({ kind: 'invalidApiKey', ms: r.int(1_000, 6_000) }));
  const count = Math.max(6, Math.round(n / 2.5));
  return Array.from({ length: count }, () => ({ at: r.int(0, durationMs), fault: r.pick(makers)() })).sort((a, b) => a.at - b.at);
}

/**
 * Moves every 5–12 s between the base and one of: a touch of FILL or REST (a partial fill of
 * what rests there), a dip through both, a spike through the take-profit. Each excursion lasts
 * 0.5–2.5 s, then the price is back at the base.
 */
function planPrices(r: Prng, durationMs: number): PlannedPrice[] {
  const out: PlannedPrice[] = [];
  for (let t = r.int(4_000, 8_000); t < durationMs; t += r.int(5_000, 12_000)) {
    const to = r.pick([PRICES.FILL, PRICES.REST, PRICES.DIP, PRICES.DIP, PRICES.SPIKE, PRICES.SPIKE]);
    out.push({ at: t, price: to });
    out.push({ at: t + r.int(500, 2_500), price: PRICES.BASE });
  }
  return out;
}

/** One line per concern, printed at the start so a failing run can be recognised and replayed. */
export function describePlan(p: ChaosPlan): string {
  const kinds = new Map<string, number>();
  for (const d of p.decisions) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
  const faults = new Map<string, number>();
  for (const f of p.faults) faults.set(f.fault.kind, (faults.get(f.fault.kind) ?? 0) + 1);
  const list = (m: Map<string, number>) => [...m].map(([k, n]) => `${k}×${n}`).join(' ');
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  return [
    `chaos plan for seed ${p.seed}: ${p.decisions.length} decisions over ${s(p.durationMs)}`,
    `  decisions: ${list(kinds)}`,
    `  kills: ${p.kills.map((k) => `${k.role}@${s(k.at)}(down ${s(k.downMs)})`).join(' ')}`,
    `  temporal restart @${s(p.temporalRestart.at)} (down ${s(p.temporalRestart.downMs)})`,
    `  faults: ${list(faults)}`,
    `  price moves: ${p.prices.length / 2}`,
  ].join('\n');
}
