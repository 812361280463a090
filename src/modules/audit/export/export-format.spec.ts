import type { AuditDbRow } from '../audit-chain';
import { CSV_HEADER, csvCell, csvLine, jsonlLine, parseExportParams } from './export-format';

const row: AuditDbRow = {
  id: '42',
  occurred_at: new Date('2026-01-02T03:04:05.678Z'),
  actor_type: 'USER',
  actor_id: 'u-1',
  role: 'AUDITOR',
  partner_id: null,
  session_id: null,
  ip: '10.0.0.1',
  user_agent: 'Mozilla/5.0 (X11, "quoted")',
  request_id: 'r-1',
  action: 'customer.read_pii',
  resource_type: 'Customer',
  resource_id: 'c-1',
  customer_id: '00000000-0000-4000-8000-000000000001',
  fields: ['email', 'phone'],
  outcome: 'SUCCESS',
  details: { a: 1, note: 'line\nbreak' },
  prev_hash: 'p',
  hash: 'h',
};

describe('export format', () => {
  it('writes one JSON object per line with every column', () => {
    const line = jsonlLine(row);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toMatchObject({ id: '42', occurredAt: '2026-01-02T03:04:05.678Z', fields: ['email', 'phone'], details: { a: 1 }, prevHash: 'p', hash: 'h' });
  });

  it('quotes CSV cells per RFC 4180', () => {
    expect(CSV_HEADER.split(',')).toHaveLength(19);
    const line = csvLine(row);
    expect(line.endsWith('\r\n')).toBe(true);
    expect(line).toContain('"Mozilla/5.0 (X11, ""quoted"")"');
    expect(line).toContain('email;phone');
    expect(line).toContain('"{""a"":1,""note"":""line\\nbreak""}"');
  });

  it('neutralises spreadsheet formulas', () => {
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('+1')).toBe(`'+1`);
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(null)).toBe('');
  });

  it('parses and validates the query', () => {
    expect(parseExportParams({})).toEqual({ from: null, to: null, format: 'jsonl' });
    expect(parseExportParams({ from: '2026-01-01T00:00:00Z', to: '2026-01-02', format: 'csv' })).toEqual({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-01-02T00:00:00Z'),
      format: 'csv',
    });
    for (const bad of [{ format: 'xml' }, { from: 'yesterday' }, { from: '2026-01-02', to: '2026-01-01' }, { format: ['csv', 'jsonl'] }, { limit: '5' }]) {
      expect(() => parseExportParams(bad)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    }
  });
});
