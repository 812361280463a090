import { Field, ID, ObjectType } from '@nestjs/graphql';

/** The partner that onboarded a customer, as far as staff need to know it. */
@ObjectType()
export class PartnerRef {
  @Field(() => ID) id!: string;
  @Field() name!: string;
}
