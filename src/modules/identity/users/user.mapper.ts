import type { UserEntity } from '../entities/user.entity';
import type { UserModel } from '../models/user.model';

/**
 * What a viewer may see of a user: `full` (ADMIN, or the user themself) adds e-mail and account state;
 * otherwise only id, display name and role. A partner sees only the id (`idOnly`).
 */
export function toUserModel(user: UserEntity, view: { full?: boolean; idOnly?: boolean } = {}): UserModel {
  if (view.idOnly) {
    return { id: user.id, displayName: null as never, role: null as never, email: null, disabled: null, mfaEnrolled: null, passwordChangeRequired: null, createdAt: null };
  }
  const full = view.full ?? false;
  return {
    id: user.id,
    displayName: user.displayName,
    role: user.role,
    email: full ? user.email : null,
    disabled: full ? user.disabledAt !== null : null,
    mfaEnrolled: full ? user.totpSecret !== null : null,
    passwordChangeRequired: full ? user.passwordChangeRequired : null,
    createdAt: full ? user.createdAt : null,
  };
}
