import { decodeCursor, encodeCursor, pageSize, type CursorKind } from './cursor';

const ID = '0b7e3f4a-9c1d-4e2f-8a6b-5d4c3b2a1f00';
const AT = '2026-01-01T00:00:00.000Z';
const raw = (json: string) => Buffer.from(json, 'utf8').toString('base64url');

function expectRefused(cursor: string, kinds: readonly CursorKind[]): void {
  let error: unknown;
  try {
    decodeCursor(cursor, kinds);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeDefined();
  expect((error as { extensions: Record<string, unknown> }).extensions).toEqual({
    code: 'BAD_USER_INPUT',
    fieldErrors: [{ path: 'after', message: 'is not a valid cursor' }],
  });
}

describe('cursors', () => {
  it('round-trip sort-key values opaquely, timestamps and ids as written', () => {
    const cursor = encodeCursor([AT, ID]);
    expect(cursor).not.toContain('2026');
    expect(decodeCursor(cursor, ['timestamptz', 'uuid'])).toEqual([AT, ID]);
    expect(decodeCursor(encodeCursor(['ALERT_VELOCITY', 3]), ['text', 'int'])).toEqual(['ALERT_VELOCITY', 3]);
    expect(decodeCursor(encodeCursor(['4711']), ['bigint'])).toEqual(['4711']);
  });

  it.each([
    ['not base64 at all!', ['text']],
    [raw('{"a":1}'), ['text']],
    [encodeCursor(['x']), ['text', 'text']],
    [encodeCursor(['x', 'y']), ['text']],
    [raw('[{"nested":true}]'), ['text']],
    [raw('[null]'), ['text']],
    ['', ['text']],
  ] as Array<[string, CursorKind[]]>)('refuses malformed cursor %p with BAD_USER_INPUT on `after`', (cursor, kinds) => {
    expectRefused(cursor, kinds);
  });

  it.each([
    ['["x","y"]', ['timestamptz', 'uuid']],
    [`["${AT}","not-a-uuid"]`, ['timestamptz', 'uuid']],
    [`["${ID}","${AT}"]`, ['timestamptz', 'uuid']],
    ['[1,2]', ['timestamptz', 'uuid']],
    [`["EXT-1","${ID}"]`, ['timestamptz', 'uuid']],
    [`["${AT}","${ID}"]`, ['int', 'uuid']],
    [`[7,"${ID}"]`, ['text', 'uuid']],
    ['["ALERT_VELOCITY",3]', ['int', 'text']],
  ] as Array<[string, CursorKind[]]>)('refuses the well-formed %s read as %p', (json, kinds) => {
    expectRefused(raw(json), kinds);
  });

  it('takes as a timestamp only an ISO 8601 instant PostgreSQL accepts', () => {
    const ok = (at: string) => decodeCursor(encodeCursor([at]), ['timestamptz'])[0];
    expect(ok('2026-01-01T00:00:00Z')).toBe('2026-01-01T00:00:00Z');
    expect(ok('2028-02-29T23:59:59.123456+05:30')).toBe('2028-02-29T23:59:59.123456+05:30');
    expect(ok('0001-01-01T00:00:00.000Z')).toBe('0001-01-01T00:00:00.000Z');
    for (const at of [
      '2026-02-29T00:00:00.000Z', // not a leap year; Date.parse would roll it into March
      '2026-02-30T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
      '2026-01-01T23:60:00.000Z',
      '2026-01-01T00:00:00.000+16:00',
      '0000-01-01T00:00:00.000Z',
      '2026-01-01',
      '2026-01-01T00:00:00',
      'Thu, 01 Jan 2026 00:00:00 GMT',
      `${AT}\u0000`,
      '',
    ]) {
      expectRefused(encodeCursor([at]), ['timestamptz']);
    }
    expectRefused(encodeCursor([Date.parse(AT)]), ['timestamptz']);
  });

  it('takes as a uuid the hyphenated hex form only', () => {
    expect(decodeCursor(encodeCursor([ID.toUpperCase()]), ['uuid'])).toEqual([ID.toUpperCase()]);
    for (const id of [ID.replace(/-/g, ''), `{${ID}}`, `${ID}0`, ID.replace('0b', 'zz'), '']) expectRefused(encodeCursor([id]), ['uuid']);
    expectRefused(encodeCursor([42]), ['uuid']);
  });

  it('takes integers as numbers or digit strings within the column type, int as a number and bigint as a string', () => {
    expect(decodeCursor(encodeCursor([2147483647, '-2147483648']), ['int', 'int'])).toEqual([2147483647, -2147483648]);
    expect(decodeCursor(encodeCursor(['9223372036854775807', 12]), ['bigint', 'bigint'])).toEqual(['9223372036854775807', '12']);
    expect(decodeCursor(encodeCursor(['-9223372036854775808']), ['bigint'])).toEqual(['-9223372036854775808']);
    for (const value of [2147483648, '2147483648', -2147483649, 1.5, '1.5', '1e3', ' 1', '', 'x', Number.MAX_SAFE_INTEGER + 1]) {
      expectRefused(encodeCursor([value]), ['int']);
    }
    for (const value of ['9223372036854775808', '-9223372036854775809', 2 ** 53, 1.5, '0x10', 'x']) {
      expectRefused(encodeCursor([value]), ['bigint']);
    }
  });

  it('takes as text a string PostgreSQL can store, of at most 200 characters', () => {
    expect(decodeCursor(encodeCursor(['x'.repeat(200), '']), ['text', 'text'])).toEqual(['x'.repeat(200), '']);
    expectRefused(encodeCursor(['x'.repeat(201)]), ['text']);
    expectRefused(encodeCursor(['a\u0000b']), ['text']);
    expectRefused(encodeCursor([1]), ['text']);
  });

  it('binds a cursor to the order it was issued under, when the list has one', () => {
    const cursor = encodeCursor([AT, ID], 'CREATED_AT:DESC');
    expect(decodeCursor(cursor, ['timestamptz', 'uuid'], 'CREATED_AT:DESC')).toEqual([AT, ID]);
    for (const order of ['UPDATED_AT:DESC', 'CREATED_AT:ASC']) {
      expect(() => decodeCursor(cursor, ['timestamptz', 'uuid'], order)).toThrow(
        expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'after', message: 'was issued under another orderBy; page again from the start' }] } }),
      );
    }
    // A list of one fixed order takes no order-bound cursor.
    expectRefused(cursor, ['timestamptz', 'uuid']);
    // Issued before cursors carried their order: still read.
    expect(decodeCursor(encodeCursor([AT, ID]), ['timestamptz', 'uuid'], 'CREATED_AT:DESC')).toEqual([AT, ID]);
    for (const json of [`{"o":"CREATED_AT:DESC"}`, `{"o":"CREATED_AT:DESC","v":["${AT}"]}`, `{"o":1,"v":["${AT}","${ID}"]}`, `{"o":"CREATED_AT:DESC","v":["${AT}","${ID}"],"x":1}`, `{"o":"CREATED_AT:DESC","v":{"0":"${AT}"}}`]) {
      expect(() => decodeCursor(raw(json), ['timestamptz', 'uuid'], 'CREATED_AT:DESC')).toThrow(
        expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'after', message: 'is not a valid cursor' }] } }),
      );
    }
  });

  it('treats an unknown kind as a programming error, not bad input', () => {
    expect(() => decodeCursor(encodeCursor(['x']), ['float' as CursorKind])).toThrow('Unknown cursor kind float');
  });

  it('bounds the page size to 0–100, default 20', () => {
    expect(pageSize({})).toBe(20);
    expect(pageSize({ first: 0 })).toBe(0);
    expect(pageSize({ first: 100 })).toBe(100);
    expect(() => pageSize({ first: 101 })).toThrow(/between 0 and 100/);
    expect(() => pageSize({ first: -1 })).toThrow(/between 0 and 100/);
  });
});
