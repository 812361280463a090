import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Role } from '../../../common/context/principal';
import { Connection } from '../../../common/pagination/connection';

registerEnumType(Role, { name: 'Role', description: 'Staff roles' });

/** A staff user as others see it; `email` only for ADMIN and the user themself (field resolver). */
@ObjectType('User')
export class UserModel {
  @Field(() => ID) id!: string;
  @Field() displayName!: string;
  @Field(() => Role) role!: Role;
  @Field(() => String, { nullable: true, description: 'Visible to ADMIN and to the user themself' })
  email!: string | null;
  @Field(() => Boolean, { nullable: true, description: 'Visible to ADMIN and to the user themself' })
  disabled!: boolean | null;
  @Field(() => Boolean, { nullable: true, description: 'TOTP enrolled; visible to ADMIN and to the user themself' })
  mfaEnrolled!: boolean | null;
  @Field(() => Boolean, { nullable: true, description: 'Must replace an admin-set password at next sign-in' })
  passwordChangeRequired!: boolean | null;
  @Field(() => Date, { nullable: true }) createdAt!: Date | null;
  @Field(() => GraphQLJSON, { nullable: true, description: "The principal's abilities (packed CASL rules), only on `me`" })
  permissions?: unknown;
}

export const UserConnection = Connection(UserModel, 'UserConnection');
