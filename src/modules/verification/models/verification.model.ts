import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';
import { Connection } from '../../../common/pagination/connection';
import { VerificationMethod, VerificationResult, VerificationStatus } from './verification.enums';

/** A one-time-code challenge or an external result as the API shows it: never the code or its digest. */
@ObjectType('Verification')
export class VerificationModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) customerId!: string;
  @Field(() => VerificationMethod) method!: VerificationMethod;
  @Field(() => VerificationStatus, { description: 'For a completion: the answer to that attempt' }) status!: VerificationStatus;
  @Field(() => VerificationResult, { nullable: true, description: 'The decisive outcome the verification level counts (null while pending, expired or superseded)' })
  result!: VerificationResult | null;
  @Field(() => String, { nullable: true, description: 'External checks: the provider' }) provider!: string | null;
  @Field(() => Float, { nullable: true, description: 'External checks: the provider\'s score, 0–100' }) score!: number | null;
  @Field(() => String, { nullable: true, description: 'External checks: the provider\'s id of the check (never a document)' }) reference!: string | null;
  @Field(() => Int, { nullable: true, description: 'One-time codes: wrong codes still allowed' }) attemptsLeft!: number | null;
  @Field(() => Date, { nullable: true, description: 'One-time codes: when the code stops working' }) expiresAt!: Date | null;
  @Field(() => Date, { nullable: true }) completedAt!: Date | null;
  @Field() createdAt!: Date;
}
export const VerificationConnection = Connection(VerificationModel, 'VerificationConnection');

/** What `startCustomerVerification` answers: where the challenge stands, never the code. */
@ObjectType('VerificationChallenge')
export class VerificationChallengeModel {
  @Field(() => ID, { description: 'Pass it to completeCustomerVerification' }) verificationId!: string;
  @Field(() => ID) customerId!: string;
  @Field(() => VerificationMethod) method!: VerificationMethod;
  @Field() expiresAt!: Date;
  @Field(() => Int) attemptsLeft!: number;
  @Field(() => Int, { description: 'Further starts allowed for this customer in the current window' }) resendsLeft!: number;
}
