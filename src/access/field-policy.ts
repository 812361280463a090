import { subject as asSubject } from '@casl/ability';
import type { FieldMiddleware, MiddlewareContext, NextFn } from '@nestjs/graphql';
import type { Principal } from '../common/context/principal';
import { ForbiddenError, StepUpRequiredError } from '../common/errors/app-error';
import type { AppAbility, SubjectName } from './abilities';

/**
 * How a protected object type is read field by field. The CASL ability decides each field:
 * `read` → full value, `readAfterStepUp` → full value once the session has stepped up, `readMasked` →
 * the mask, none → FORBIDDEN. Denied fields resolve to null with an error at their path (the fields are
 * nullable, so the parent and the rest of the response survive).
 */
export interface ProtectedTypeOptions {
  subject: SubjectName;
  /** Masks for fields a role may see partly. */
  masks?: Record<string, (value: unknown) => unknown>;
  /** Fields whose full-value read is audited, and how to find the customer a row belongs to. */
  audited?: { fields: readonly string[]; customerIdOf: (source: Record<string, unknown>) => string | null };
}

export type FieldAccess = 'FULL' | 'MASKED' | 'STEP_UP' | 'FORBIDDEN';

const protectedTypes = new Map<string, ProtectedTypeOptions>();

/** Declares a GraphQL object type (by name) as field-protected. Called next to the model. */
export function protectType(graphqlTypeName: string, options: ProtectedTypeOptions): void {
  protectedTypes.set(graphqlTypeName, options);
}

export function protectedTypeOptions(graphqlTypeName: string): ProtectedTypeOptions | undefined {
  return protectedTypes.get(graphqlTypeName);
}

/**
 * The CASL subject for a row, made once per row and type and reused for each of its fields. CASL tags the
 * object with its type and the row must stay untouched, so the subject is a new object whose prototype is
 * the row: conditions read the row's attributes through it, and a lazily decrypted PII field is never
 * decrypted just because a rule's conditions were checked.
 */
const subjects = new WeakMap<object, { name: SubjectName; target: object }>();
function subjectOf(subjectName: SubjectName, row: Record<string, unknown>): object {
  const cached = subjects.get(row);
  if (cached?.name === subjectName) return cached.target;
  const target = asSubject(subjectName as never, Object.create(row) as never) as object;
  subjects.set(row, { name: subjectName, target });
  return target;
}

export function fieldAccess(ability: AppAbility, principal: Principal, subjectName: SubjectName, row: Record<string, unknown>, field: string): FieldAccess {
  const target = subjectOf(subjectName, row) as never;
  if (ability.can('read', target, field)) return 'FULL';
  if (ability.can('readAfterStepUp', target, field)) {
    const stepped = principal.kind === 'USER' && principal.stepUpUntil !== null && principal.stepUpUntil.getTime() > Date.now();
    if (stepped) return 'FULL';
    return ability.can('readMasked', target, field) ? 'MASKED' : 'STEP_UP';
  }
  if (ability.can('readMasked', target, field)) return 'MASKED';
  return 'FORBIDDEN';
}

/** Per-request record of what the field policy let through or refused, flushed to the audit log. */
export interface FieldAuditCollector {
  /** customerId → full-value PII fields read */
  piiReads: Map<string, Set<string>>;
  /** `Type.field` refused (FORBIDDEN or STEP_UP_REQUIRED) */
  denied: Set<string>;
}

export interface FieldPolicyRequest {
  custosPrincipal?: Promise<Principal | undefined>;
  /** The principal once `custosPrincipal` has resolved (null: none), so each field need not await it. */
  custosPrincipalSettled?: Principal | null;
  custosAbility?: AppAbility;
  custosFieldAudit?: FieldAuditCollector;
}

export function fieldAuditOf(req: FieldPolicyRequest): FieldAuditCollector {
  req.custosFieldAudit ??= { piiReads: new Map(), denied: new Set() };
  return req.custosFieldAudit;
}

/**
 * Global field middleware: applies the policy of protected types on every path — top-level queries, nested
 * objects, aliases, fragments and lists alike, because it runs where each field resolves. Requests without
 * a principal (public sign-in operations) return only what their services built for them. Synchronous
 * whenever the field is (most are): a list of 100 rows resolves ~1 000 fields, and a promise per field
 * was a measurable share of a request's CPU.
 */
export const fieldPolicyMiddleware: FieldMiddleware = (ctx: MiddlewareContext, next: NextFn) => {
  const options = protectedTypes.get(ctx.info.parentType.name);
  if (!options) return next();
  const req = (ctx.context as { req?: FieldPolicyRequest }).req;
  if (!req) return next();
  if (req.custosPrincipalSettled !== undefined) return applyPolicy(ctx, next, options, req, req.custosPrincipalSettled ?? undefined);
  if (!req.custosPrincipal) return next();
  return req.custosPrincipal.then((principal) => applyPolicy(ctx, next, options, req, principal));
};

function applyPolicy(ctx: MiddlewareContext, next: NextFn, options: ProtectedTypeOptions, req: FieldPolicyRequest, principal: Principal | undefined): unknown {
  const ability = req.custosAbility;
  if (!principal || !ability) return next();
  const field = ctx.info.fieldName;
  const source = ctx.source as Record<string, unknown>;
  const access = fieldAccess(ability, principal, options.subject, source, field);
  if (access === 'FORBIDDEN' || access === 'STEP_UP') {
    fieldAuditOf(req).denied.add(`${ctx.info.parentType.name}.${field}`);
    throw access === 'FORBIDDEN' ? new ForbiddenError(`Not allowed to read ${ctx.info.parentType.name}.${field}`) : new StepUpRequiredError();
  }
  const finish = (value: unknown): unknown => {
    if (access === 'MASKED') {
      const mask = options.masks?.[field];
      return value === null || value === undefined ? value : mask ? mask(value) : null;
    }
    if (options.audited && value !== null && value !== undefined && options.audited.fields.includes(field)) {
      const customerId = options.audited.customerIdOf(source);
      if (customerId) {
        const reads = fieldAuditOf(req).piiReads;
        if (!reads.has(customerId)) reads.set(customerId, new Set());
        reads.get(customerId)!.add(field);
      }
    }
    return value;
  };
  const value: unknown = next();
  return value instanceof Promise ? value.then(finish) : finish(value);
}
