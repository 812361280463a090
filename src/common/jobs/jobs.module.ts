import { Global, Module } from '@nestjs/common';
import { RecurringJobs } from './recurring-jobs.service';

/** Recurring follow-up work on the job queue (RecurringJobs), for every module. */
@Global()
@Module({ providers: [RecurringJobs], exports: [RecurringJobs] })
export class JobsModule {}
