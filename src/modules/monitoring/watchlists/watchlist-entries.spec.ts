import { decodeEntryCursor, encodeEntryCursor, entryDigest, normalizeEntries } from './watchlist-entries';

describe('watchlist entries', () => {
  it('trims, drops duplicates and names bad values by index', () => {
    expect(normalizeEntries([' CP-1 ', 'CP-2', 'CP-1', '\tCP-2\n'], 'entries')).toEqual({ values: ['CP-1', 'CP-2'], errors: [] });
    expect(normalizeEntries(['ok', '   ', 'x'.repeat(201), 'y'.repeat(200)], 'add')).toEqual({
      values: ['ok', 'y'.repeat(200)],
      errors: [
        { path: 'add.1', message: 'must not be empty' },
        { path: 'add.2', message: 'must be at most 200 characters' },
      ],
    });
    expect(normalizeEntries(undefined, 'remove')).toEqual({ values: [], errors: [] });
  });

  it('counts characters like every other text input (an astral character is one)', () => {
    expect(normalizeEntries(['😀'.repeat(200)], 'entries').errors).toEqual([]);
    expect(normalizeEntries(['😀'.repeat(201)], 'entries').errors).toHaveLength(1);
  });

  it('keeps an ordinary value whole in the cursor', () => {
    expect(decodeEntryCursor(encodeEntryCursor('DE89370400440532013000'))).toEqual({ head: 'DE89370400440532013000', digest: null });
  });

  it.each([
    ['200 multi-byte characters', 'Ж'.repeat(200)],
    ['200 astral characters', '😀'.repeat(200)],
    ['200 escaped quotes', '"'.repeat(200)],
  ])('fits a cursor for %s: a prefix plus the digest of the whole value', (_label, value) => {
    const cursor = encodeEntryCursor(value);
    expect(cursor.length).toBeLessThanOrEqual(512);
    const decoded = decodeEntryCursor(cursor);
    expect(value.startsWith(decoded.head)).toBe(true);
    expect(decoded.head.length).toBeLessThan(value.length);
    expect(decoded.digest).toBe(entryDigest(value));
  });

  it('refuses a cursor whose digest is not a SHA-256', () => {
    const forged = Buffer.from(JSON.stringify(['CP', 'not-a-digest'])).toString('base64url');
    expect(() => decodeEntryCursor(forged)).toThrow(/not a valid cursor/);
    expect(() => decodeEntryCursor(Buffer.from(JSON.stringify([1, ''])).toString('base64url'))).toThrow(/not a valid cursor/);
  });
});
