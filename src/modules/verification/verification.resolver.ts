import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Policy } from '../../access/policy.decorator';
import { CompleteCustomerVerificationInput, RecordVerificationResultInput, StartCustomerVerificationInput } from './dto/verification.inputs';
import { VerificationChallengeModel, VerificationModel } from './models/verification.model';
import { OtpVerificationService } from './otp-verification.service';
import { VerificationReader } from './verification-reader.service';
import { VerificationResultsService } from './verification-results.service';

/** Customer verification: one-time codes, external results and reads. Rules live in the services. */
@Resolver(() => VerificationModel)
export class VerificationResolver {
  constructor(
    private readonly otp: OtpVerificationService,
    private readonly results: VerificationResultsService,
    private readonly reader: VerificationReader,
  ) {}

  @Policy('create', 'Verification')
  @Mutation(() => VerificationChallengeModel, {
    description: 'Sends a 6-digit code to the customer\'s stored phone (SMS_OTP) or e-mail (EMAIL_OTP); valid 5 minutes, 5 attempts; supersedes the live challenge; 3 starts per customer in 15 minutes',
  })
  startCustomerVerification(@Args('input') input: StartCustomerVerificationInput): Promise<VerificationChallengeModel> {
    return this.otp.start(input);
  }

  @Policy('create', 'Verification')
  @Mutation(() => VerificationModel, { description: 'One attempt: PASSED, FAILED (attemptsLeft), EXPIRED or LOCKED; a superseded or used challenge is CONFLICT' })
  completeCustomerVerification(@Args('input') input: CompleteCustomerVerificationInput): Promise<VerificationModel> {
    return this.otp.complete(input);
  }

  @Policy('create', 'Verification')
  @Mutation(() => VerificationModel, { description: 'A DOCUMENT or BIOMETRIC check by an external provider; recomputes the customer\'s verificationLevel' })
  recordVerificationResult(@Args('input') input: RecordVerificationResultInput): Promise<VerificationModel> {
    return this.results.record(input);
  }

  @Policy('read', 'Verification')
  @Query(() => VerificationModel, { nullable: true, description: 'NOT_FOUND for absent and out-of-scope ids alike' })
  customerVerification(@Args('id', { type: () => ID }) id: string): Promise<VerificationModel> {
    return this.reader.get(id);
  }
}
