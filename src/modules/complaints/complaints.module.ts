import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/customers.module';
import { ComplaintAnalyticsResolver } from './complaint-analytics.resolver';
import { ComplaintAnalytics } from './complaint-analytics.service';
import { ComplaintChanges } from './complaint-changes.service';
import { ComplaintErasure } from './complaint-erasure.service';
import { ComplaintIntake } from './complaint-intake.service';
import { ComplaintReader } from './complaint-reader.service';
import { ComplaintRiskFactors } from './complaint-risk';
import { ComplaintSlaJob } from './complaint-sla.service';
import { ComplaintSpikes } from './complaint-spikes.service';
import { ComplaintWorkflow } from './complaint-workflow.service';
import { ComplaintsResolver } from './complaints.resolver';
import { ComplaintSettings } from './complaints.settings';
import { CustomerComplaintsResolver } from './customer-complaints.resolver';

/**
 * Complaints: multi-channel intake, SLA clocks, the investigation workflow, feedback and analytics.
 * Knows customers through CustomersService and tells monitoring what happened through its exported
 * services (SYSTEM_EVENT_SINK, alerts, notifications, early warnings, the webhook outbox); monitoring
 * never imports this module. An erasure reaches it through a step registered on that sink (ComplaintErasure).
 */
@Module({
  imports: [CustomersModule],
  providers: [
    ComplaintSettings, ComplaintReader, ComplaintChanges, ComplaintRiskFactors, ComplaintSpikes, ComplaintIntake, ComplaintWorkflow, ComplaintSlaJob, ComplaintAnalytics, ComplaintErasure,
    ComplaintsResolver, ComplaintAnalyticsResolver, CustomerComplaintsResolver,
  ],
  exports: [ComplaintReader],
})
export class ComplaintsModule {}
