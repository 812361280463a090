import { BadUserInputError, type FieldError } from '../../../common/errors/app-error';
import { fromDbRow, type AuditDbRow } from '../audit-chain';

export type ExportFormat = 'jsonl' | 'csv';

export interface ExportParams {
  from: Date | null;
  to: Date | null;
  format: ExportFormat;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** `?from=&to=&format=`: ISO-8601 instants (from inclusive, to exclusive) and jsonl (default) or csv. */
export function parseExportParams(query: Record<string, unknown>): ExportParams {
  const errors: FieldError[] = [];
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') {
      errors.push({ path: name, message: 'must be given once' });
      return undefined;
    }
    return value;
  };
  const instant = (name: string): Date | null => {
    const raw = single(name);
    if (raw === undefined) return null;
    const parsed = new Date(raw);
    if (!ISO_INSTANT.test(raw) || Number.isNaN(parsed.getTime())) {
      errors.push({ path: name, message: 'must be an ISO-8601 date-time' });
      return null;
    }
    return parsed;
  };
  const from = instant('from');
  const to = instant('to');
  const format = single('format') ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') errors.push({ path: 'format', message: 'must be jsonl or csv' });
  if (from && to && from.getTime() > to.getTime()) errors.push({ path: 'to', message: 'must not be before from' });
  const unknown = Object.keys(query).filter((k) => !['from', 'to', 'format'].includes(k));
  for (const name of unknown) errors.push({ path: name, message: 'is not a parameter of this export' });
  if (errors.length) throw new BadUserInputError(`Invalid export parameters: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`, errors);
  return { from, to, format: format as ExportFormat };
}

/** Column order of both formats; `prevHash` and `hash` let a reviewer check the links of an export offline. */
export const EXPORT_COLUMNS = [
  'id', 'occurredAt', 'actorType', 'actorId', 'role', 'partnerId', 'sessionId', 'ip', 'userAgent', 'requestId', 'action',
  'resourceType', 'resourceId', 'customerId', 'fields', 'outcome', 'details', 'prevHash', 'hash',
] as const;

function exportRecord(r: AuditDbRow): Record<(typeof EXPORT_COLUMNS)[number], unknown> {
  // The hashed columns as the chain sees them, plus the chain links themselves.
  return { ...fromDbRow(r), prevHash: r.prev_hash, hash: r.hash };
}

export function jsonlLine(r: AuditDbRow): string {
  return `${JSON.stringify(exportRecord(r))}\n`;
}

export const CSV_HEADER = `${EXPORT_COLUMNS.join(',')}\r\n`;

/** RFC 4180: CRLF rows; a cell with a comma, quote or line break is quoted with quotes doubled. */
export function csvLine(r: AuditDbRow): string {
  const record = exportRecord(r);
  return `${EXPORT_COLUMNS.map((column) => csvCell(record[column])).join(',')}\r\n`;
}

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value) ? value.join(';') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // Spreadsheets execute cells starting with these (CSV injection); user agents are caller-controlled.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
