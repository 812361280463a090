import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AUDIT_SINK } from '../../common/audit/audit-sink';
import { AuditWriter } from './audit-writer.service';
import { AuditCheckpointer } from './chain/audit-checkpointer.service';
import { AuditVerifier } from './chain/audit-verifier.service';
import { AuditEntryEntity } from './entities/audit-entry.entity';
import { SecurityAlertEntity } from './entities/security-alert.entity';
import { AuditExportController } from './export/audit-export.controller';
import { AuditExportService } from './export/audit-export.service';
import { AuditReviewResolver } from './review/audit-review.resolver';
import { AuditReviewService } from './review/audit-review.service';
import { AuditVerificationSchedule } from './review/audit-verification.schedule';
import { SecurityAlertDetector } from './security-alerts/security-alert-detector.service';
import { SecurityAlertsResolver } from './security-alerts/security-alerts.resolver';
import { SecurityAlertsService } from './security-alerts/security-alerts.service';

/**
 * The append-only, hash-chained audit log: the sink every module writes to, the reviewers' queries,
 * verification and export, and the security alerts read off the log. It reads no other module.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AuditEntryEntity, SecurityAlertEntity])],
  controllers: [AuditExportController],
  providers: [
    AuditWriter,
    { provide: AUDIT_SINK, useExisting: AuditWriter },
    AuditCheckpointer,
    AuditVerifier,
    AuditReviewService,
    AuditVerificationSchedule,
    AuditReviewResolver,
    AuditExportService,
    SecurityAlertsService,
    SecurityAlertDetector,
    SecurityAlertsResolver,
  ],
  exports: [AUDIT_SINK],
})
export class AuditModule {}
