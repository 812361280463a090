import { Module } from '@nestjs/common';
import { CustomersModule } from '../../customers/customers.module';
import { CreditAssessmentsService } from './credit-assessments.service';
import { EarlyWarningsService } from './early-warnings.service';
import { RiskJobs } from './risk-jobs.service';
import { CustomerRiskResolver, EarlyWarningsResolver } from './risk.resolver';
import { RiskService } from './risk.service';

/**
 * Risk and early warning (part of monitoring): the explainable risk score, credit assessments, early
 * warnings and their periodic refresh. Exports the services the pipeline and alert triage call in their
 * transactions, and that future modules (complaints: LOW_SATISFACTION; cases: sanction factors) use.
 */
@Module({
  imports: [CustomersModule],
  providers: [RiskService, EarlyWarningsService, CreditAssessmentsService, RiskJobs, EarlyWarningsResolver, CustomerRiskResolver],
  exports: [RiskService, EarlyWarningsService],
})
export class RiskModule {}
