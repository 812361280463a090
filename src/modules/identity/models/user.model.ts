import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { Role } from '../../../common/context/principal';
import { Connection } from '../../../common/pagination/connection';
import { protectType } from '../../../access/field-policy';

registerEnumType(Role, { name: 'Role', description: 'Staff roles' });

/**
 * A staff user. Field policy: staff see `id displayName role` of others and everything of themselves;
 * ADMIN sees everything; a partner sees only `id`. Other fields are null with FORBIDDEN.
 */
@ObjectType('User')
export class UserModel {
  @Field(() => ID) id!: string;
  @Field(() => String, { nullable: true }) displayName!: string | null;
  @Field(() => Role, { nullable: true }) role!: Role | null;
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

protectType('User', { subject: 'User' });

export const UserConnection = Connection(UserModel, 'UserConnection');
