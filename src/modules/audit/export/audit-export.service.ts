import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { AUDIT_COLUMNS, type AuditDbRow } from '../audit-chain';
import { AUDIT_SETTINGS } from '../audit.settings';
import { CSV_HEADER, csvLine, jsonlLine, type ExportParams } from './export-format';

const CONTENT_TYPES = { jsonl: 'application/x-ndjson; charset=utf-8', csv: 'text/csv; charset=utf-8' } as const;

/**
 * Streams audit entries to an HTTP response in constant memory: keyset batches on (occurred_at, id) — the
 * index the time filter uses — each written once the client has taken the previous one (`drain`), so a
 * slow reader slows the export down instead of filling the heap. Bounded by the head at the start, so the
 * export is a consistent prefix of the chain however long it runs.
 */
@Injectable()
export class AuditExportService {
  private readonly logger = new Logger('AuditExport');

  constructor(
    private readonly dataSource: DataSource,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  async stream(params: ExportParams, reply: FastifyReply): Promise<void> {
    // Recorded before the first byte leaves: an export the client aborts was still an export.
    await this.audit.record({
      action: 'audit.export',
      outcome: 'SUCCESS',
      resourceType: 'AuditLog',
      details: { from: params.from?.toISOString() ?? null, to: params.to?.toISOString() ?? null, format: params.format },
    });
    const [head] = (await this.dataSource.query('SELECT id::text AS id FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string }>;
    const line = params.format === 'csv' ? csvLine : jsonlLine;

    // From here the export writes the socket itself, batch by batch; the headers already set on the reply (the
    // request id) go out with its own. An error before this point is still answered as JSON (HttpErrorFilter).
    reply.hijack();
    const res = reply.raw;
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value);
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[params.format],
      'content-disposition': `attachment; filename="audit-${new Date().toISOString().replace(/[:.]/g, '-')}.${params.format}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    if (params.format === 'csv' && !(await write(res, CSV_HEADER))) return;
    if (!head) {
      res.end();
      return;
    }

    let after: { at: Date; id: string } | null = null;
    let rows = 0;
    for (;;) {
      const batch = await this.batch(params, head.id, after);
      if (!batch.length) break;
      rows += batch.length;
      if (!(await write(res, batch.map(line).join('')))) {
        this.logger.warn({ auditExport: { rows } }, 'client left before the export ended');
        return;
      }
      const last = batch[batch.length - 1];
      after = { at: last.occurred_at, id: last.id };
      if (batch.length < AUDIT_SETTINGS.exportBatchSize) break;
    }
    res.end();
  }

  private batch(params: ExportParams, headId: string, after: { at: Date; id: string } | null): Promise<AuditDbRow[]> {
    const where = ['id <= $1'];
    const values: unknown[] = [headId];
    const add = (sql: (n: number) => string, ...v: unknown[]) => {
      where.push(sql(values.length + 1));
      values.push(...v);
    };
    if (params.from) add((n) => `occurred_at >= $${n}`, params.from);
    if (params.to) add((n) => `occurred_at < $${n}`, params.to);
    if (after) add((n) => `(occurred_at, id) > ($${n}, $${n + 1}::bigint)`, after.at, after.id);
    values.push(AUDIT_SETTINGS.exportBatchSize);
    return this.dataSource.query(
      `SELECT ${AUDIT_COLUMNS} FROM audit_entry WHERE ${where.join(' AND ')} ORDER BY audit_entry.occurred_at, audit_entry.id LIMIT $${values.length}`,
      values,
    ) as Promise<AuditDbRow[]>;
  }
}

/** Writes a chunk, waiting for `drain` when the socket buffer is full; false once the client has gone. */
async function write(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}
