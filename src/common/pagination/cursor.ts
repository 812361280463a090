import { BadUserInputError } from '../errors/app-error';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type PageArgs } from './connection';

/**
 * What one cursor position holds, named after the PostgreSQL type its value is compared with. A cursor is
 * client input, and a well-formed one can still carry values of the wrong type (forged, or taken from a
 * list in another order); checking each against its kind makes that BAD_USER_INPUT, not a cast error.
 */
export type CursorKind = 'timestamptz' | 'uuid' | 'int' | 'bigint' | 'text';

/** `int` decodes to a number; `bigint` to a digit string, since a number past 2^53 loses digits. */
type CursorValue<K extends CursorKind> = K extends 'int' ? number : string;
export type CursorValues<K extends readonly CursorKind[]> = { -readonly [I in keyof K]: CursorValue<K[I]> };

const MAX_TEXT_LENGTH = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER = /^-?\d{1,19}$/;
const INT_RANGE = [-(2n ** 31n), 2n ** 31n - 1n] as const;
const BIGINT_RANGE = [-(2n ** 63n), 2n ** 63n - 1n] as const;
const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Cursors are opaque to clients: base64url of a JSON array of the sort-key values of the last row.
 * Keyset pagination (not OFFSET) keeps deep pages as fast as the first and stable under inserts.
 *
 * A list whose order the client chooses passes `order` (its field and direction): the cursor then carries it,
 * `{"o": order, "v": values}`, because its values are a position in that order only. Read under another
 * order, values of fitting types (two timestamps, say) would start the page at a meaningless place.
 */
export function encodeCursor(values: ReadonlyArray<string | number>, order?: string): string {
  return Buffer.from(JSON.stringify(order === undefined ? values : { o: order, v: values }), 'utf8').toString('base64url');
}

/**
 * The sort-key values of a cursor, one per kind in `kinds`; BAD_USER_INPUT on `after` for anything else,
 * including a cursor issued under another `order`. Timestamps, uuids and texts come back as written, so
 * they bind to the query exactly as before.
 *
 * A bare array under a list with an order is a cursor issued before cursors carried their order; it is
 * still read, so a client paging across the deploy carries on where it was.
 */
export function decodeCursor<const K extends readonly CursorKind[]>(cursor: string, kinds: K, order?: string): CursorValues<K> {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw new Error('charset');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (order !== undefined && isOrderBound(parsed)) {
    if (parsed.o !== order) throw BadUserInputError.field('after', 'was issued under another orderBy; page again from the start');
    parsed = parsed.v;
  }
  if (!Array.isArray(parsed) || parsed.length !== kinds.length) throw invalidCursor();
  return parsed.map((value: unknown, i) => {
    const decoded = decodeValue(value, kinds[i]);
    if (decoded === undefined) throw invalidCursor();
    return decoded;
  }) as CursorValues<K>;
}

function isOrderBound(parsed: unknown): parsed is { o: string; v: unknown } {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
  const keys = Object.keys(parsed);
  return keys.length === 2 && typeof (parsed as { o?: unknown }).o === 'string' && keys.includes('v');
}

const invalidCursor = () => BadUserInputError.field('after', 'is not a valid cursor');

function decodeValue(value: unknown, kind: CursorKind): string | number | undefined {
  switch (kind) {
    case 'timestamptz':
      return typeof value === 'string' && isTimestamp(value) ? value : undefined;
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? value : undefined;
    case 'int': {
      const n = integer(value, INT_RANGE);
      return n === undefined ? undefined : Number(n);
    }
    case 'bigint':
      return integer(value, BIGINT_RANGE)?.toString();
    case 'text':
      // PostgreSQL text cannot hold NUL; JSON can.
      return typeof value === 'string' && value.length <= MAX_TEXT_LENGTH && !value.includes('\0') ? value : undefined;
    default:
      throw new Error(`Unknown cursor kind ${String(kind satisfies never)}`);
  }
}

/** An integer within `range`, written as a JSON number or a string of digits (as bigint ids come from pg). */
function integer(value: unknown, [min, max]: readonly [bigint, bigint]): bigint | undefined {
  let n: bigint;
  if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && INTEGER.test(value)) n = BigInt(value);
  else return undefined;
  return n >= min && n <= max ? n : undefined;
}

/**
 * An ISO 8601 instant PostgreSQL accepts. `Date.parse` alone is not enough: it rolls 30 February over into
 * March, where PostgreSQL refuses the value.
 */
function isTimestamp(value: string): boolean {
  const match = ISO_TIMESTAMP.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const [offsetHour, offsetMinute] = [Number(match[7] ?? 0), Number(match[8] ?? 0)];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return (
    year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day &&
    hour < 24 && minute < 60 && second < 60 && offsetHour < 16 && offsetMinute < 60
  );
}

/** Validates `first` and returns the page size. */
export function pageSize(args: PageArgs): number {
  // Every list reads its cursor only when `after` is truthy: an empty one would silently mean "from the start".
  if (args.after === '') throw invalidCursor();
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw BadUserInputError.field('first', `must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  return first;
}
