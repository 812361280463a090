import { Controller, Get, Query, Res, UseFilters } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Policy } from '../../../access/policy.decorator';
import { AuditExportService } from './audit-export.service';
import { parseExportParams } from './export-format';
import { HttpErrorFilter } from './http-error.filter';

/** `GET /audit/export?from=&to=&format=jsonl|csv` with a staff bearer token (AUDITOR), through the global guard. */
@Controller('audit')
@UseFilters(HttpErrorFilter)
export class AuditExportController {
  constructor(private readonly exporter: AuditExportService) {}

  @Get('export')
  @Policy('export', 'AuditLog')
  async export(@Query() query: Record<string, unknown>, @Res() reply: FastifyReply): Promise<void> {
    await this.exporter.stream(parseExportParams(query), reply);
  }
}
