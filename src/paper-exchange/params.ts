/** Request parameters, parsed and checked the way Binance reports bad ones. */
import { dec, type Dec } from '../shared/decimal';
import { badRequest, mandatory } from './wire';

const DECIMAL_PARAM = /^([0-9]{1,20})(\.[0-9]{1,20})?$/;
const CLIENT_ID = /^[.A-Z:/a-z0-9_-]{1,36}$/;

function parseInto(out: Map<string, string>, raw: string, seen: Set<string>): void {
  if (raw === '') return;
  for (const [k, v] of new URLSearchParams(raw)) {
    if (seen.has(k)) throw badRequest(-1101, 'Duplicate values for a parameter detected.');
    seen.add(k);
    if (!out.has(k)) out.set(k, v);
  }
}

export class Params {
  private readonly map = new Map<string, string>();

  /** Query string parameters win over body parameters, as on Binance. */
  constructor(rawQuery: string, rawBody: string) {
    parseInto(this.map, rawQuery, new Set());
    parseInto(this.map, rawBody, new Set());
  }

  has(name: string): boolean {
    const v = this.map.get(name);
    return v !== undefined && v !== '';
  }

  str(name: string): string | undefined {
    const v = this.map.get(name);
    return v === undefined || v === '' ? undefined : v;
  }

  required(name: string): string {
    const v = this.str(name);
    if (v === undefined) throw mandatory(name);
    return v;
  }

  enumOf<T extends string>(name: string, allowed: readonly T[], code: number, msg: string): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw badRequest(code, msg);
    return v as T;
  }

  decimal(name: string, maxDecimals = 8): Dec | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!DECIMAL_PARAM.test(v)) {
      throw badRequest(-1100, `Illegal characters found in parameter '${name}'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.`);
    }
    const frac = (v.split('.')[1] ?? '').replace(/0+$/, '');
    if (frac.length > maxDecimals) throw badRequest(-1111, `Parameter '${name}' has too much precision.`);
    return dec(v);
  }

  int(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^-?\d{1,19}$/.test(v)) throw badRequest(-1100, `Illegal characters found in parameter '${name}'; legal range is '^-?[0-9]{1,19}$'.`);
    return Number(v);
  }

  /** A time parameter (startTime, endTime) in ms; Binance accepts it in microseconds too. */
  timeMs(name: string): number | undefined {
    const v = this.int(name);
    return v !== undefined && v > 1e14 ? Math.floor(v / 1000) : v;
  }

  clientId(name: string): string | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!CLIENT_ID.test(v)) {
      throw badRequest(-1100, `Illegal characters found in parameter '${name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.`);
    }
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') throw badRequest(-1100, `Illegal characters found in parameter '${name}'; legal range is 'true, false'.`);
    return v === 'true';
  }
}

/** The required `symbol`, one the exchange lists: -1102 when it is missing, -1121 when it is not listed. */
export function knownSymbol(p: Params, markets: { symbolDef(symbol: string): unknown }): string {
  const symbol = p.required('symbol');
  markets.symbolDef(symbol);
  return symbol;
}

/** `symbol`, or the JSON array `symbols` (exchangeInfo, ticker/price, the market data tickers): Binance's rules and errors. */
export function symbolsParam(p: Params): string[] | undefined {
  const one = p.str('symbol');
  const many = p.str('symbols');
  if (one !== undefined && many !== undefined) throw badRequest(-1128, 'Combination of optional parameters invalid.');
  if (one !== undefined) return [one];
  if (many === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(many);
  } catch {
    throw badRequest(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.");
  }
  if (!Array.isArray(parsed) || !parsed.every((s): s is string => typeof s === 'string')) throw badRequest(-1100, "Illegal characters found in parameter 'symbols'.");
  if (new Set(parsed).size !== parsed.length) throw badRequest(-1151, 'Symbol is present multiple times in the list.');
  return parsed;
}
