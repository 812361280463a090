import { decodeCursor, encodeCursor, pageSize } from './cursor';

describe('cursors', () => {
  it('round-trip sort-key values opaquely', () => {
    const cursor = encodeCursor(['2026-01-01T00:00:00.000Z', 'a1b2']);
    expect(cursor).not.toContain('2026');
    expect(decodeCursor(cursor, 2)).toEqual(['2026-01-01T00:00:00.000Z', 'a1b2']);
  });

  it.each([
    ['not base64 at all!', 1],
    [Buffer.from('{"a":1}').toString('base64url'), 1],
    [encodeCursor(['x']), 2],
    [Buffer.from('[{"nested":true}]').toString('base64url'), 1],
    ['', 1],
  ])('refuses malformed cursor %p with BAD_USER_INPUT on `after`', (cursor, arity) => {
    try {
      decodeCursor(cursor, arity);
      throw new Error('accepted');
    } catch (error) {
      expect((error as { extensions: Record<string, unknown> }).extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: [{ path: 'after', message: 'is not a valid cursor' }],
      });
    }
  });

  it('bounds the page size to 0–100, default 20', () => {
    expect(pageSize({})).toBe(20);
    expect(pageSize({ first: 0 })).toBe(0);
    expect(pageSize({ first: 100 })).toBe(100);
    expect(() => pageSize({ first: 101 })).toThrow(/between 0 and 100/);
    expect(() => pageSize({ first: -1 })).toThrow(/between 0 and 100/);
  });
});
