import { Field, ID, ObjectType } from '@nestjs/graphql';

/** The customer's login lock placed by a LOCK_LOGIN rule: LOGIN events inside it decide BLOCK until it ends or is lifted. */
@ObjectType('LoginLock')
export class LoginLockModel {
  @Field(() => ID) customerId!: string;
  @Field({ description: 'Start of the lock\'s span: LOGIN events from this time on decide BLOCK' }) lockedSince!: Date;
  @Field({ description: 'LOGIN events up to this time decide BLOCK, unless lifted' }) lockedUntil!: Date;
  @Field({ description: 'Locked now: not lifted and not yet over' }) active!: boolean;
  @Field(() => ID, { nullable: true, description: 'The rule version that placed it' }) ruleId!: string | null;
  @Field(() => Date, { nullable: true }) liftedAt!: Date | null;
  @Field(() => ID, { nullable: true, description: 'The staff user who lifted it' }) liftedById!: string | null;
}
