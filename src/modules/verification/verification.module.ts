import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/customers.module';
import { CustomerVerificationsResolver } from './customer-verifications.resolver';
import { OtpVerificationService } from './otp-verification.service';
import { VerificationClock } from './verification.clock';
import { VerificationOutcomes } from './verification-outcomes.service';
import { VerificationReader } from './verification-reader.service';
import { VerificationResultsService } from './verification-results.service';
import { VerificationResolver } from './verification.resolver';

/**
 * Customer verification: one-time codes through NOTIFY_TRANSPORT and external document/biometric results,
 * and the customer's verificationLevel computed from them. Knows customers through their exported services
 * and tells monitoring about every attempt through SYSTEM_EVENT_SINK (a VERIFICATION event); monitoring
 * never imports this module.
 */
@Module({
  imports: [CustomersModule],
  providers: [
    VerificationClock, VerificationReader, VerificationOutcomes, OtpVerificationService, VerificationResultsService,
    VerificationResolver, CustomerVerificationsResolver,
  ],
})
export class VerificationModule {}
