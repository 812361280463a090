import { createHash } from 'node:crypto';
import { maxLength } from 'class-validator';
import { BadUserInputError, type FieldError } from '../../../common/errors/app-error';
import { decodeCursor, encodeCursor } from '../../../common/pagination/cursor';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../../../common/validation/text.decorators';

export const MAX_ENTRIES_PER_CALL = 10_000;
export const ENTRY_MAX_LENGTH = 200;
/** At most this many per-entry errors are reported; a list of 10 000 bad values needs no 10 000 messages. */
const MAX_REPORTED_ERRORS = 20;

/**
 * Entry values as rules compare them with `counterpartyRef` (itself trimmed, 1–200 characters): each value
 * trimmed, non-empty, at most 200 characters (counted like every text input), duplicates dropped.
 * Errors name the index: `entries.3`.
 */
export function normalizeEntries(values: readonly string[] | null | undefined, path: string): { values: string[]; errors: FieldError[] } {
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  (values ?? []).forEach((raw, index) => {
    const value = typeof raw === 'string' ? raw.trim() : '';
    if (!value) errors.push({ path: `${path}.${index}`, message: 'must not be empty' });
    else if (!maxLength(value, ENTRY_MAX_LENGTH)) errors.push({ path: `${path}.${index}`, message: `must be at most ${ENTRY_MAX_LENGTH} characters` });
    else if (!isStorableText(value)) errors.push({ path: `${path}.${index}`, message: UNSTORABLE_TEXT_MESSAGE });
    else seen.add(value);
  });
  return { values: [...seen], errors };
}

/** One BAD_USER_INPUT for all the entry errors of an input (the first few named). */
export function assertNoEntryErrors(errors: FieldError[]): void {
  if (!errors.length) return;
  const shown = errors.slice(0, MAX_REPORTED_ERRORS);
  const more = errors.length > shown.length ? ` (and ${errors.length - shown.length} more)` : '';
  throw new BadUserInputError(`Invalid input: ${shown.map((e) => `${e.path} ${e.message}`).join('; ')}${more}`, shown);
}

/*
 * Entries are listed in value order, so the keyset cursor is the last value. A value can be longer than a
 * cursor may carry (200 characters of multi-byte text, or many escaped quotes), so the cursor holds the
 * longest prefix that fits and, when that prefix is not the whole value, a SHA-256 of the value by which
 * the exact value is found again among the entries starting with the prefix.
 */
const HEAD_MAX_JSON_BYTES = 300;
const DIGEST = /^[0-9a-f]{64}$/;

export const entryDigest = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

export function encodeEntryCursor(value: string): string {
  let head = '';
  for (const ch of value) {
    const next = head + ch;
    if (next.length > ENTRY_MAX_LENGTH || Buffer.byteLength(JSON.stringify(next), 'utf8') > HEAD_MAX_JSON_BYTES) break;
    head = next;
  }
  return encodeCursor([head, head === value ? '' : entryDigest(value)]);
}

export interface EntryCursor {
  /** The whole last value, or a prefix of it when `digest` is set. */
  head: string;
  /** SHA-256 (hex) of the whole last value when `head` is only its prefix. */
  digest: string | null;
}

export function decodeEntryCursor(cursor: string): EntryCursor {
  const [head, digest] = decodeCursor(cursor, ['text', 'text']);
  if (digest !== '' && !DIGEST.test(digest)) throw BadUserInputError.field('after', 'is not a valid cursor');
  return { head, digest: digest || null };
}
