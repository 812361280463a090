import { BadUserInputError } from '../errors/app-error';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type PageArgs } from './connection';

/**
 * Cursors are opaque to clients: base64url of a JSON array of the sort-key values of the last row.
 * Keyset pagination (not OFFSET) keeps deep pages as fast as the first and stable under inserts.
 */
export function encodeCursor(values: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): Array<string | number> {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw new Error('charset');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw BadUserInputError.field('after', 'is not a valid cursor');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== arity ||
    !parsed.every((v) => (typeof v === 'string' && v.length <= 200) || (typeof v === 'number' && Number.isFinite(v)))
  ) {
    throw BadUserInputError.field('after', 'is not a valid cursor');
  }
  return parsed as Array<string | number>;
}

/** Validates `first` and returns the page size. */
export function pageSize(args: PageArgs): number {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw BadUserInputError.field('first', `must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  return first;
}
