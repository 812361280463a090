import { Global, Module } from '@nestjs/common';
import { AUDIT_SINK } from '../../common/audit/audit-sink';
import { AuditWriter } from './audit-writer.service';

/** Provides the audit sink every module writes to; the audit module itself reads no other module. */
@Global()
@Module({
  providers: [AuditWriter, { provide: AUDIT_SINK, useExisting: AuditWriter }],
  exports: [AUDIT_SINK],
})
export class AuditModule {}
