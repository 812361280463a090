import type { UserEntity } from '../entities/user.entity';
import type { UserModel } from '../models/user.model';

/** The GraphQL view of a user; the field policy decides per principal which of these fields are readable. */
export function toUserModel(user: UserEntity): UserModel {
  return {
    id: user.id,
    displayName: user.displayName,
    role: user.role,
    email: user.email,
    disabled: user.disabledAt !== null,
    mfaEnrolled: user.totpSecret !== null,
    passwordChangeRequired: user.passwordChangeRequired,
    createdAt: user.createdAt,
  };
}
