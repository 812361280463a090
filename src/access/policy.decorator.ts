import { SetMetadata } from '@nestjs/common';
import type { Principal } from '../common/context/principal';
import type { AppError } from '../common/errors/app-error';
import type { Action, SubjectName } from './abilities';

export const POLICY = 'custos:policy';
export const AUTHENTICATED = 'custos:authenticated';
export const ARGUMENT_POLICY = 'custos:argumentPolicy';

/** The refusal for arguments this principal may not pass (raw, before validation), or undefined. */
export type ArgumentRule = (principal: Principal, args: Record<string, unknown>) => AppError | undefined;

export interface PolicyMetadata {
  action: Action;
  subject: SubjectName;
  /** A grant limited to some fields is enough (the field policy then decides each field). */
  fieldLevel?: boolean;
}

/**
 * The operation needs `action` on `subject` as a whole in the principal's ability (type-level check in the
 * guard); services then check the specific row and put row scope into SQL. A grant limited to some fields
 * (a partner's `read Event [id]`, for the id in its ingest results) does not open the operation, unless it
 * is declared `fieldLevel`: customer reads, where every role's grant names the fields it may see.
 */
export const Policy = (action: Action, subject: SubjectName, options: { fieldLevel?: boolean } = {}): MethodDecorator =>
  SetMetadata(POLICY, { action, subject, ...(options.fieldLevel ? { fieldLevel: true } : {}) } satisfies PolicyMetadata);

/** Any signed-in principal of the given kinds may call it (e.g. `me`, `logout`); the service decides the rest. */
export const Authenticated = (...kinds: Array<'USER' | 'PARTNER'>): MethodDecorator =>
  SetMetadata(AUTHENTICATED, kinds.length ? kinds : ['USER', 'PARTNER']);

/**
 * Which arguments the principal may pass at all (a field only some roles may write, say), checked by the
 * guard right after the operation's policy and before the input is validated: SPEC §8 puts authorization
 * before validation, so a role that may not set a limit hears FORBIDDEN naming the field, whatever value it
 * sent. Rules that need the stored row stay in the service.
 */
export const ArgumentPolicy = (rule: ArgumentRule): MethodDecorator => SetMetadata(ARGUMENT_POLICY, rule);
