import { Field, ObjectType } from '@nestjs/graphql';
import { AlertModel } from './alert.model';
import { EventModel } from './event.model';
import { Decision } from './monitoring.enums';
import { RuleModel } from './rule.model';

/** The answer to one ingested event. A partner may read `event { id }`, `decision` and `duplicate` only. */
@ObjectType('EventResult')
export class EventResultModel {
  @Field(() => EventModel, { nullable: true }) event!: EventModel | null;
  @Field(() => Decision, { nullable: true }) decision!: Decision | null;
  @Field(() => [RuleModel], { nullable: true, description: 'Not visible to partners (rules are not to be reverse-engineered)' }) triggeredRules!: RuleModel[] | null;
  @Field(() => [AlertModel], { nullable: true, description: 'Not visible to partners' }) alerts!: AlertModel[] | null;
  @Field(() => Boolean, { nullable: true, description: 'True when this idempotency key was already ingested from this source' }) duplicate!: boolean | null;
}
