import Big from 'big.js';
import type { CompareOp } from './vocabulary';
import type { Domain } from './typing';

/**
 * Value semantics shared by the evaluator and by the SQL translation (which mirrors each rule here).
 * - A missing, null or ill-typed value never satisfies a comparison — not even `ne` or `notIn` — except
 *   the explicit `eq null` / `ne null` tests.
 * - Numbers: numbers, bigints and decimal text (`"100.50"`) compare numerically, as exact decimals — as
 *   PostgreSQL's numeric does, so `"5000.30" gt 5 × 1000.06` is false and 18-digit amounts differing by 0.01
 *   are told apart. A JS number stands for the decimal of its shortest text (`String(n)`, `0.1` is 0.1), which
 *   is exactly what a JSON literal says; decimal text must match `NUMERIC_RE` (no exponent, no `.5`). `mul`
 *   multiplies exactly too.
 * - Text: exact and case-sensitive for eq/ne/in; `contains` on text is a case-insensitive substring test.
 * - Levels (riskLevel, creditLevel, verificationLevel) order by position on their scale.
 * - `flags contains x` is exact membership; `flags in [...]` means "any flag is in the set".
 * - An attribute `contains` x: exact membership when it is an array, substring when it is text.
 */

/** Decimal text accepted as a number: amounts arrive as decimal strings. Mirrored in SQL as `NUMERIC_SQL_RE`. */
export const NUMERIC_RE = /^-?[0-9]+(\.[0-9]+)?$/;
export const NUMERIC_SQL_RE = '^-?[0-9]+(\\.[0-9]+)?$';

/**
 * A number value as a JS number, which loses digits beyond ~15 significant ones: only for what needs a JS
 * number, such as a count's cap. Comparisons and `mul` go through `compareNumbers` and `multiply`.
 */
export function toNum(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && NUMERIC_RE.test(v)) return Number(v);
  if (typeof v === 'bigint') return Number(v); // count(*) from some drivers
  return null;
}

/**
 * A number value as an exact decimal, or null when it is none: a finite JS number (through `String(n)`, so
 * `1e21` and `1e-7` are fine), decimal text matching `NUMERIC_RE`, a bigint, or a `Big` already computed
 * (a `mul`, a literal converted at compile time).
 */
export function toDecimal(v: unknown): Big | null {
  if (typeof v === 'string') return NUMERIC_RE.test(v) ? new Big(v) : null;
  if (typeof v === 'number') return Number.isFinite(v) ? new Big(v) : null;
  if (v instanceof Big) return v;
  if (typeof v === 'bigint') return new Big(v.toString());
  return null;
}

/**
 * The sign of `l − r` as exact decimals (-1, 0 or 1), or null when either is not a number. Most values take
 * a fast path that is just as exact: as doubles, two JS numbers order as their shortest texts do (each text
 * rounds to its double), and so does decimal text of at most 15 characters (up to 15 significant digits
 * convert to doubles one-to-one and in order). Longer text goes through `Big`.
 */
export function compareNumbers(l: unknown, r: unknown): number | null {
  const x = quick(l);
  const y = quick(r);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  const a = toDecimal(l);
  if (a === null) return null;
  const b = toDecimal(r);
  return b === null ? null : a.cmp(b);
}

/** The double ordering exactly as the value's decimal when there is one at hand (see `compareNumbers`). */
function quick(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.length <= 15 && NUMERIC_RE.test(v)) return Number(v);
  return undefined;
}

/** `l × r` exactly, or null when either is not a number: a JS number while it is a safe integer, else a `Big`. */
export function multiply(l: unknown, r: unknown): number | Big | null {
  if (typeof l === 'number' && typeof r === 'number' && Number.isSafeInteger(l) && Number.isSafeInteger(r)) {
    const p = l * r;
    if (Number.isSafeInteger(p)) return p; // the rounded product is only safe when the true one is
  }
  const a = toDecimal(l);
  if (a === null) return null;
  const b = toDecimal(r);
  return b === null ? null : a.times(b);
}

/**
 * A literal factor of `mul` prepared once at compile time: a safe integer stays a JS number (see `multiply`),
 * anything else becomes its `Big`, so evaluation does not parse it again. Non-numbers are kept as they are.
 */
export function prepareNumber(v: unknown): unknown {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return toDecimal(v) ?? v;
}

/**
 * The value as a key equal for equal decimals (`"20.50"`, `20.5` and `"20.5"` alike), or null when it is no
 * number: membership in a set of numbers.
 */
export function decimalKey(v: unknown): string | null {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v); // "0" for -0 too
  const d = toDecimal(v);
  if (d === null) return null;
  const t = d.toFixed(); // normalised: no leading or trailing zeros, never an exponent
  return t === '-0' ? '0' : t;
}

/**
 * The value as decimal text for a PostgreSQL numeric parameter, keeping every digit: decimal text as it
 * came, anything else through `toDecimal` (so never an exponent); null when it is no number.
 */
export function toDecimalText(v: unknown): string | null {
  if (typeof v === 'string') return NUMERIC_RE.test(v) ? v : null;
  return toDecimal(v)?.toFixed() ?? null;
}

/**
 * Scalars as text; arrays, objects and null have none. Numbers are spelled as PostgreSQL spells a jsonb
 * number (`->>`), plain decimal: the SQL side reads stored attributes that way, and JavaScript's `1e+21` or
 * `1e-7` would never equal them. Booleans as JSON does.
 */
export function toText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? (v === 0 ? '0' : new Big(v).toFixed()) : null;
  if (typeof v === 'boolean') return String(v);
  return null;
}

export function toBool(v: unknown): boolean | null {
  return typeof v === 'boolean' ? v : null;
}

function ordered<T>(op: CompareOp, a: T, b: T): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
    case 'gt':
      return a > b;
    case 'gte':
      return a >= b;
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
    default:
      return false;
  }
}

function substring(l: unknown, r: unknown): boolean {
  const needle = toText(r);
  return typeof l === 'string' && needle !== null && l.toLowerCase().includes(needle.toLowerCase());
}

function arrayContains(l: unknown, r: unknown): boolean {
  const needle = toText(r);
  return Array.isArray(l) && needle !== null && l.includes(needle);
}

/**
 * `(left, right) => boolean` for a resolved domain. For the membership domains the right value is a
 * ReadonlySet of already coerced members (a watchlist, or an array literal converted at compile time);
 * for `isNull` the left value is the side under test and the right is ignored.
 */
export function comparator(domain: Domain, op: CompareOp): (l: unknown, r: unknown) => boolean {
  const negate = op === 'notIn';
  switch (domain.kind) {
    case 'isNull':
      return op === 'eq' ? (l) => l === null || l === undefined : (l) => l !== null && l !== undefined;
    case 'number':
      return (l, r) => {
        const c = compareNumbers(l, r);
        return c !== null && ordered(op, c, 0);
      };
    case 'text':
      return (l, r) => {
        const a = toText(l);
        const b = toText(r);
        return a !== null && b !== null && ordered(op, a, b);
      };
    case 'boolean':
      return (l, r) => {
        const a = toBool(l);
        const b = toBool(r);
        return a !== null && b !== null && ordered(op, a, b);
      };
    case 'level': {
      const scale = domain.scale;
      return (l, r) => {
        const a = scale.indexOf(toText(l) ?? '');
        const b = scale.indexOf(toText(r) ?? '');
        return a >= 0 && b >= 0 && ordered(op, a, b);
      };
    }
    case 'memberText':
      return (l, r) => {
        const t = toText(l);
        return t !== null && (r as ReadonlySet<unknown>).has(t) !== negate;
      };
    case 'memberNumber':
      return (l, r) => {
        const k = decimalKey(l);
        return k !== null && (r as ReadonlySet<unknown>).has(k) !== negate;
      };
    case 'intersect':
      return (l, r) => {
        if (!Array.isArray(l)) return false;
        const set = r as ReadonlySet<unknown>;
        return l.some((x) => typeof x === 'string' && set.has(x)) !== negate;
      };
    case 'arrayContains':
      return arrayContains;
    case 'substring':
      return substring;
    case 'containsDynamic':
      return (l, r) => (Array.isArray(l) ? arrayContains(l, r) : substring(l, r));
  }
}

/** Members of an array literal as the membership domain compares them: text, or `decimalKey` for numbers. */
export function memberSet(values: readonly unknown[], domain: Domain): ReadonlySet<string> {
  const out = new Set<string>();
  for (const v of values) {
    const m = domain.kind === 'memberNumber' ? decimalKey(v) : toText(v);
    if (m !== null) out.add(m);
  }
  return out;
}

/** Reads an event field (`amount`, `deviceId`, `attributes.<key>` …) from an event-shaped object. */
export function readField(name: string): (source: Record<string, unknown> | undefined) => unknown {
  if (name.startsWith('attributes.')) {
    const key = name.slice('attributes.'.length);
    return (src) => {
      const attrs = src?.attributes;
      return attrs !== null && typeof attrs === 'object' && Object.hasOwn(attrs, key)
        ? (attrs as Record<string, unknown>)[key]
        : undefined;
    };
  }
  return (src) => src?.[name];
}
