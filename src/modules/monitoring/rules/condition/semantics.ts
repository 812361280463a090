import type { CompareOp } from './vocabulary';
import type { Domain } from './typing';

/**
 * Value semantics shared by the evaluator and by the SQL translation (which mirrors each rule here).
 * - A missing, null or ill-typed value never satisfies a comparison — not even `ne` or `notIn` — except
 *   the explicit `eq null` / `ne null` tests.
 * - Numbers: numbers and decimal text (`"100.50"`) compare numerically.
 * - Text: exact and case-sensitive for eq/ne/in; `contains` on text is a case-insensitive substring test.
 * - Levels (riskLevel, creditLevel, verificationLevel) order by position on their scale.
 * - `flags contains x` is exact membership; `flags in [...]` means "any flag is in the set".
 * - An attribute `contains` x: exact membership when it is an array, substring when it is text.
 */

/** Decimal text accepted as a number: amounts arrive as decimal strings. Mirrored in SQL as `NUMERIC_SQL_RE`. */
export const NUMERIC_RE = /^-?[0-9]+(\.[0-9]+)?$/;
export const NUMERIC_SQL_RE = '^-?[0-9]+(\\.[0-9]+)?$';

export function toNum(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && NUMERIC_RE.test(v)) return Number(v);
  if (typeof v === 'bigint') return Number(v); // count(*) from some drivers
  return null;
}

/** Scalars as text (numbers and booleans spelled as JSON does); arrays, objects and null have none. */
export function toText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
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
        const a = toNum(l);
        const b = toNum(r);
        return a !== null && b !== null && ordered(op, a, b);
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
        const n = toNum(l);
        return n !== null && (r as ReadonlySet<unknown>).has(n) !== negate;
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

/** Members of an array literal as the membership domain compares them. */
export function memberSet(values: readonly unknown[], domain: Domain): ReadonlySet<string | number> {
  const out = new Set<string | number>();
  for (const v of values) {
    const m = domain.kind === 'memberNumber' ? toNum(v) : toText(v);
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
