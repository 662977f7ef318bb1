/**
 * The paper exchange's accounts: each API key's balances (free and locked per asset), the funds
 * an open order holds locked, and the account view GET /api/v3/account shows. Matching, order
 * lists and amend move funds only through here or through an order's own `locked`.
 */
import { D, dec, ZERO, type Dec } from '../shared/decimal';
import { fmt8 } from './market';
import { DEFAULT_BALANCES, type Account, type AccountConfig, type InternalOrder } from './model';

export interface Balance {
  free: Dec;
  locked: Dec;
}

/** What a new order locks: an asset and an amount (none for a MARKET order, see Engine.insert). */
export interface FundsLock {
  asset: string;
  amount: Dec;
}

export class Accounts {
  /** By API key; the engine hands this very map out as `Engine.accounts`. */
  readonly byApiKey = new Map<string, Account>();
  private nextUid = 1000;

  constructor(private readonly now: () => number) {}

  add(cfg: AccountConfig): Account {
    const balances = new Map<string, Balance>();
    for (const [asset, amount] of Object.entries(cfg.balances ?? DEFAULT_BALANCES)) balances.set(asset, { free: dec(amount), locked: ZERO });
    const acct: Account = {
      apiKey: cfg.apiKey,
      uid: this.nextUid++,
      config: cfg,
      canTrade: (cfg.permissions ?? ['SPOT', 'TRADE']).includes('TRADE'),
      balances,
      commission: dec(cfg.commissionRate ?? '0.001'),
      updateTime: this.now(),
    };
    this.byApiKey.set(cfg.apiKey, acct);
    return acct;
  }

  get(apiKey: string): Account {
    const acct = this.byApiKey.get(apiKey);
    if (!acct) throw new Error(`no account ${apiKey}`);
    return acct;
  }

  /** The account's balance of an asset, created at zero on first use (a fill may pay in a new asset). */
  balance(acct: Account, asset: string): Balance {
    let b = acct.balances.get(asset);
    if (!b) {
      b = { free: ZERO, locked: ZERO };
      acct.balances.set(asset, b);
    }
    return b;
  }

  /** Moves `lock.amount` of the order's account from free to locked and records it on the order. */
  lockFunds(order: InternalOrder, lock: FundsLock): void {
    const b = this.balance(this.get(order.account), lock.asset);
    b.free = b.free.minus(lock.amount);
    b.locked = b.locked.plus(lock.amount);
    order.lockAsset = lock.asset;
    order.locked = lock.amount;
  }

  /** Hands back all the order still has locked (it closed: filled, cancelled, expired). */
  releaseLock(order: InternalOrder): void {
    if (order.lockAsset === undefined || order.locked.lte(0)) return;
    const b = this.balance(this.get(order.account), order.lockAsset);
    b.locked = b.locked.minus(order.locked);
    b.free = b.free.plus(order.locked);
    order.locked = ZERO;
  }

  /**
   * Hands back the share of the order's lock that `qty` of it accounts for (a fill about to be
   * debited from free, or quantity self-trade prevention took). A BUY locked quote at its limit
   * price (or stop price; `price` when it has neither), a SELL locked the base quantity itself.
   */
  releaseLockShare(order: InternalOrder, qty: Dec, price: Dec): void {
    if (order.lockAsset === undefined || order.locked.lte(0)) return;
    const lockPrice = order.price.gt(0) ? order.price : (order.stopPrice ?? price);
    this.releasePart(order, D.min(order.locked, order.side === 'BUY' ? lockPrice.mul(qty) : qty));
  }

  /** Hands back `amount` (at most what the order holds; the caller bounds it) of the order's lock. */
  releasePart(order: InternalOrder, amount: Dec): void {
    if (order.lockAsset === undefined) return;
    const b = this.balance(this.get(order.account), order.lockAsset);
    b.locked = b.locked.minus(amount);
    b.free = b.free.plus(amount);
    order.locked = order.locked.minus(amount);
  }

  /** The balances as GET /api/v3/account lists them, 8 decimal places. */
  view(apiKey: string): Record<string, { free: string; locked: string }> {
    const acct = this.get(apiKey);
    const out: Record<string, { free: string; locked: string }> = {};
    for (const [asset, b] of acct.balances) out[asset] = { free: fmt8(b.free), locked: fmt8(b.locked) };
    return out;
  }
}
