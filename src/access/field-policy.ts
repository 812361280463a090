import { subject as asSubject } from '@casl/ability';
import { defaultFieldResolver, GraphQLObjectType, type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
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

/**
 * Free text of other types that is a customer's PII (SPEC §4 "PII at rest": complaint descriptions and
 * notes, alert notes). Who may read the object is its resolvers' business; a full value that leaves is
 * audited like a customer's PII field, under that customer, as `Type.field`.
 */
export interface AuditedTextOptions {
  fields: readonly string[];
  /** The customer whose key the text is sealed with (models carry it as a plain, unexposed property). */
  customerIdOf: (source: Record<string, unknown>) => string | null | undefined;
}

const auditedTexts = new Map<string, AuditedTextOptions>();

/** Declares fields of a GraphQL object type (by name) whose full-value reads are audited. Called next to the model. */
export function auditFullReads(graphqlTypeName: string, options: AuditedTextOptions): void {
  auditedTexts.set(graphqlTypeName, options);
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
  const verdict = typeVerdict(ability, subjectName, field);
  let read: boolean, afterStepUp: boolean, masked: boolean;
  if (verdict) {
    ({ read, afterStepUp, masked } = verdict);
  } else {
    const target = subjectOf(subjectName, row) as never;
    read = ability.can('read', target, field);
    afterStepUp = !read && ability.can('readAfterStepUp', target, field);
    masked = !read && ability.can('readMasked', target, field);
  }
  if (read) return 'FULL';
  if (afterStepUp) {
    const stepped = principal.kind === 'USER' && principal.stepUpUntil !== null && principal.stepUpUntil.getTime() > Date.now();
    if (stepped) return 'FULL';
    return masked ? 'MASKED' : 'STEP_UP';
  }
  return masked ? 'MASKED' : 'FORBIDDEN';
}

/**
 * What an ability says about one field of a type when no rule that could decide it has conditions: then the
 * answer is the same for every row, and a 100-row page need not ask CASL 300 times. `null` when a
 * condition (row scope: "their own customers") makes the answer depend on the row. Computed once per
 * ability (one per request) and field.
 */
interface FieldVerdict { read: boolean; afterStepUp: boolean; masked: boolean }
const verdicts = new WeakMap<AppAbility, Map<SubjectName, Map<string, FieldVerdict | null>>>();

function typeVerdict(ability: AppAbility, subjectName: SubjectName, field: string): FieldVerdict | null {
  let bySubject = verdicts.get(ability);
  if (!bySubject) verdicts.set(ability, (bySubject = new Map()));
  let byField = bySubject.get(subjectName);
  if (!byField) bySubject.set(subjectName, (byField = new Map()));
  let verdict = byField.get(field);
  if (verdict === undefined) {
    const read = rowIndependentAnswer(ability, 'read', subjectName, field);
    const afterStepUp = rowIndependentAnswer(ability, 'readAfterStepUp', subjectName, field);
    const masked = rowIndependentAnswer(ability, 'readMasked', subjectName, field);
    verdict = read === null || afterStepUp === null || masked === null ? null : { read, afterStepUp, masked };
    byField.set(field, verdict);
  }
  return verdict;
}

/** CASL decides by the first relevant rule whose conditions match; without conditions that is the first rule. */
function rowIndependentAnswer(ability: AppAbility, action: 'read' | 'readAfterStepUp' | 'readMasked', subjectName: SubjectName, field: string): boolean | null {
  const rules = ability.rulesFor(action, subjectName, field);
  if (rules.some((rule) => rule.conditions !== undefined)) return null;
  return rules.length > 0 && !rules[0].inverted;
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
 * Applies the policy of protected types on every path — top-level queries, nested objects, aliases,
 * fragments, lists and subscription payloads alike — by wrapping the resolver of each field of a protected
 * type in the built schema, so it runs wherever that field resolves. It replaces a global Nest field
 * middleware: Nest runs middleware through `async` functions, which made every field of every type (a
 * 100-row page resolves ~1 000) cost several promises. The wrapper is synchronous whenever the field is.
 * Requests without a principal (public sign-in operations) get only what their services built for them.
 */
export function applyFieldPolicies(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType)) continue;
    const options = protectedTypes.get(type.name);
    if (options) {
      for (const field of Object.values(type.getFields())) {
        field.resolve = protectedResolver(options, field.resolve ?? defaultFieldResolver);
      }
    }
    const texts = auditedTexts.get(type.name);
    if (texts) {
      for (const name of texts.fields) {
        const field = type.getFields()[name];
        if (!field) throw new Error(`auditFullReads: ${type.name}.${name} is not a field`);
        field.resolve = auditedTextResolver(texts, `${type.name}.${name}`, field.resolve ?? defaultFieldResolver);
      }
    }
  }
  return schema;
}

function auditedTextResolver(options: AuditedTextOptions, label: string, resolve: GraphQLFieldResolver<unknown, unknown>): GraphQLFieldResolver<unknown, unknown> {
  const record = (req: FieldPolicyRequest | undefined, source: unknown, value: unknown): unknown => {
    if (req && value !== null && value !== undefined) notePiiRead(req, options.customerIdOf(source as Record<string, unknown>), label);
    return value;
  };
  return (source, args, context, info) => {
    const req = (context as { req?: FieldPolicyRequest } | undefined)?.req;
    const value = resolve(source, args, context, info);
    return value instanceof Promise ? value.then((resolved: unknown) => record(req, source, resolved)) : record(req, source, value);
  };
}

function protectedResolver(options: ProtectedTypeOptions, resolve: GraphQLFieldResolver<unknown, unknown>): GraphQLFieldResolver<unknown, unknown> {
  return (source, args, context, info) => {
    const req = (context as { req?: FieldPolicyRequest } | undefined)?.req;
    if (!req) return resolve(source, args, context, info);
    if (req.custosPrincipalSettled !== undefined) {
      return applyPolicy(options, req, req.custosPrincipalSettled ?? undefined, resolve, source, args, context, info);
    }
    if (!req.custosPrincipal) return resolve(source, args, context, info);
    return req.custosPrincipal.then((principal) => applyPolicy(options, req, principal, resolve, source, args, context, info));
  };
}

function applyPolicy(
  options: ProtectedTypeOptions,
  req: FieldPolicyRequest,
  principal: Principal | undefined,
  resolve: GraphQLFieldResolver<unknown, unknown>,
  source: unknown,
  args: Record<string, unknown>,
  context: unknown,
  info: GraphQLResolveInfo,
): unknown {
  const ability = req.custosAbility;
  if (!principal || !ability) return resolve(source, args, context, info);
  const field = info.fieldName;
  const row = source as Record<string, unknown>;
  const access = fieldAccess(ability, principal, options.subject, row, field);
  if (access === 'FORBIDDEN' || access === 'STEP_UP') {
    fieldAuditOf(req).denied.add(`${info.parentType.name}.${field}`);
    throw access === 'FORBIDDEN' ? new ForbiddenError(`Not allowed to read ${info.parentType.name}.${field}`) : new StepUpRequiredError();
  }
  const value = resolve(source, args, context, info);
  if (value instanceof Promise) return value.then((resolved: unknown) => deliver(options, req, access, row, field, resolved));
  return deliver(options, req, access, row, field, value);
}

/** The value as the access level lets it out: masked, or in full (recording an audited PII read). */
function deliver(options: ProtectedTypeOptions, req: FieldPolicyRequest, access: 'FULL' | 'MASKED', row: Record<string, unknown>, field: string, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (access === 'MASKED') {
    const mask = options.masks?.[field];
    return mask ? mask(value) : null;
  }
  if (options.audited && options.audited.fields.includes(field)) notePiiRead(req, options.audited.customerIdOf(row), field);
  return value;
}

/** Records a full-value PII read of `field` (a customer's, or `Type.field` of its free text) for the request's audit entry. */
function notePiiRead(req: FieldPolicyRequest, customerId: string | null | undefined, field: string): void {
  if (!customerId) return;
  const reads = fieldAuditOf(req).piiReads;
  let fields = reads.get(customerId);
  if (!fields) reads.set(customerId, (fields = new Set()));
  fields.add(field);
}
