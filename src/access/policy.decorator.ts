import { SetMetadata } from '@nestjs/common';
import type { Action, SubjectName } from './abilities';

export const POLICY = 'custos:policy';
export const AUTHENTICATED = 'custos:authenticated';

export interface PolicyMetadata {
  action: Action;
  subject: SubjectName;
}

/**
 * The operation needs `action` on `subject` in the principal's ability (type-level check in the guard);
 * services then check the specific row and put row scope into SQL.
 */
export const Policy = (action: Action, subject: SubjectName): MethodDecorator =>
  SetMetadata(POLICY, { action, subject } satisfies PolicyMetadata);

/** Any signed-in principal of the given kinds may call it (e.g. `me`, `logout`); the service decides the rest. */
export const Authenticated = (...kinds: Array<'USER' | 'PARTNER'>): MethodDecorator =>
  SetMetadata(AUTHENTICATED, kinds.length ? kinds : ['USER', 'PARTNER']);
