import { AbilityBuilder, createMongoAbility, type MongoAbility, type MongoQuery } from '@casl/ability';
import { Role, type PartnerPrincipal, type Principal, type StaffPrincipal } from '../common/context/principal';

/** Verbs of the permission model, in the domain's words. */
export type Action =
  | 'manage' | 'read' | 'readMasked' | 'readAfterStepUp' | 'create' | 'update' | 'erase' | 'ingest' | 'activate' | 'retire' | 'assign'
  | 'transition' | 'resolve' | 'file' | 'handle' | 'feedback' | 'open' | 'note' | 'propose' | 'decide' | 'export' | 'verify';

/** Things permissions are about. */
export type SubjectName =
  | 'User' | 'Partner' | 'PartnerToken' | 'Webhook' | 'Customer' | 'Consent' | 'Event' | 'Rule' | 'Watchlist'
  | 'Alert' | 'Hold' | 'Complaint' | 'ComplaintStats' | 'Verification' | 'Case' | 'Sanction' | 'ViolationPolicy'
  | 'EventResult' | 'Evaluation' | 'EarlyWarning' | 'CreditAssessment' | 'Notification' | 'AuditLog' | 'SecurityAlert'
  | 'AccessReport' | 'all';

export type AppAbility = MongoAbility<[Action, SubjectName | Record<string, unknown>], MongoQuery>;

/**
 * Deny by default: a principal may do only what is granted here (SPEC §4 actions table and §8 "absent from
 * the actions table = refused"). Row scope is expressed as conditions (`accountManagerId`, `onboardedBy`)
 * that services also turn into SQL, so lists never over-fetch.
 */
export function defineAbilityFor(principal: Principal | undefined): AppAbility {
  const builder = new AbilityBuilder<AppAbility>(createMongoAbility);
  if (principal?.kind === 'USER') staffRules(principal, builder);
  if (principal?.kind === 'PARTNER') partnerRules(principal, builder);
  return builder.build();
}

function staffRules(p: StaffPrincipal, { can }: AbilityBuilder<AppAbility>): void {
  // Every staff user sees other users' id, displayName and role, all of their own record, and their own
  // notifications.
  can('read', 'User', ['id', 'displayName', 'role']);
  can('read', 'User', { id: p.userId });
  can('read', 'Notification', { userId: p.userId });
  customerFieldRules(p, can);

  switch (p.role) {
    case Role.ADMIN:
      can('manage', ['User', 'Partner', 'PartnerToken', 'Webhook']);
      break;
    case Role.COMPLIANCE_OFFICER:
      can(['create', 'update'], 'Customer');
      can('erase', 'Customer');
      can(['create', 'read'], 'Consent');
      can('read', ['Event', 'Rule', 'Alert', 'Complaint', 'Case', 'Sanction', 'EarlyWarning', 'Evaluation', 'ViolationPolicy', 'Verification', 'ComplaintStats', 'AccessReport']);
      can(['create', 'update', 'activate', 'retire'], 'Rule');
      can('manage', 'Watchlist');
      can(['assign', 'transition'], 'Alert');
      can('resolve', 'Hold');
      can(['file', 'handle', 'feedback'], 'Complaint');
      can('create', 'Verification');
      can(['open', 'note', 'update'], 'Case');
      can(['propose', 'decide'], 'Sanction');
      can('update', 'ViolationPolicy');
      can('create', 'Evaluation');
      can('create', 'CreditAssessment');
      break;
    case Role.ANALYST:
      can('read', ['Event', 'Rule', 'Alert', 'Case', 'Sanction', 'EarlyWarning', 'Evaluation']);
      can(['create', 'update'], 'Rule');
      can(['assign', 'transition'], 'Alert');
      can('resolve', 'Hold');
      can(['open', 'note', 'update'], 'Case');
      can('propose', 'Sanction');
      can('create', 'Evaluation');
      break;
    case Role.AGENT:
      can(['create', 'update'], 'Customer');
      can(['create', 'read'], 'Consent');
      can(['file', 'handle', 'feedback', 'read'], 'Complaint');
      can(['create', 'read'], 'Verification');
      break;
    case Role.ACCOUNT_MANAGER: {
      const own = { accountManagerId: p.userId };
      can(['create', 'update'], 'Customer', own);
      can(['create', 'read'], 'Consent', own);
      can('read', ['Event', 'Alert', 'Complaint', 'Case', 'Sanction', 'EarlyWarning', 'Verification'], own);
      // Of the rule behind an alert, which rule it is (SPEC §5 "alerts expose rule { code name }"), never its
      // logic: rules are read by compliance and analysts only.
      can('read', 'Rule', RULE_SUMMARY_FIELDS);
      can('resolve', 'Hold', own);
      can(['file', 'handle', 'feedback'], 'Complaint', own);
      can('create', 'Verification', own);
      break;
    }
    case Role.AUDITOR:
      can(['read', 'export', 'verify'], 'AuditLog');
      can(['read', 'update'], 'SecurityAlert');
      can('read', 'AccessReport');
      break;
  }
}

/** Customer fields every principal that may read a customer sees (SPEC §4 first row, and §8: unlisted fields follow it). */
export const CUSTOMER_ID_FIELDS = [
  'id', 'externalRef', 'status', 'lifecycleStage', 'verificationLevel', 'createdAt', 'updatedAt',
  'accountManager', 'onboardedBy', 'consents', 'profileChanges', 'alerts', 'events', 'complaints', 'verifications', 'loginLock',
];
/**
 * What `customers:write` reads back of the customers its partner onboarded: what names the row it wrote (SPEC
 * §4 matrix, R for partners), so that `createCustomer { id }` tells the partner the new customer's id. It is
 * not read access: the `customer` and `customers` queries still need `customers:read` (see canQueryCustomers).
 */
export const CUSTOMER_WRITE_RESULT_FIELDS = ['id', 'externalRef'];
/** Fields of a `Rule` that say which rule it is, for roles that meet rules only through alerts: not its logic (condition, actions, dedupWindow). */
export const RULE_SUMMARY_FIELDS = ['id', 'code', 'version', 'name', 'description', 'eventTypes', 'severity', 'mode', 'status', 'createdAt', 'updatedAt', 'activatedAt', 'retiredAt'];
const RISK = ['riskScore', 'riskLevel', 'riskFactors', 'riskHistory'];
const CREDIT = ['creditScore', 'creditLevel', 'creditLimit', 'creditHistory'];
const LIMITS = ['transactionLimit', 'dailyLimit'];

/** The customer field matrix of SPEC §4, role by role: R = read, M = readMasked, S = readAfterStepUp. */
function customerFieldRules(p: StaffPrincipal, can: AbilityBuilder<AppAbility>['can']): void {
  const own = p.role === Role.ACCOUNT_MANAGER ? { accountManagerId: p.userId } : undefined;
  can('read', 'Customer', CUSTOMER_ID_FIELDS, own);
  switch (p.role) {
    case Role.ADMIN:
      can('readMasked', 'Customer', ['fullName', 'email', 'phone']);
      break;
    case Role.COMPLIANCE_OFFICER:
      can('read', 'Customer', ['fullName', 'email', 'phone', ...RISK, ...CREDIT, ...LIMITS]);
      can('readAfterStepUp', 'Customer', ['nationalId', 'dateOfBirth', 'address']);
      break;
    case Role.ANALYST:
      can('read', 'Customer', ['fullName', ...RISK, ...CREDIT, ...LIMITS]);
      can('readMasked', 'Customer', ['email', 'phone']);
      break;
    case Role.AGENT:
      can('read', 'Customer', ['fullName', 'riskLevel', ...LIMITS]);
      can('readMasked', 'Customer', ['email', 'phone', 'nationalId']);
      break;
    case Role.ACCOUNT_MANAGER:
      can('read', 'Customer', ['fullName', 'email', 'phone', 'dateOfBirth', 'address', ...RISK, ...CREDIT, ...LIMITS], own);
      break;
    case Role.AUDITOR:
      break;
  }
}

function partnerRules(p: PartnerPrincipal, { can }: AbilityBuilder<AppAbility>): void {
  const own = { onboardedByPartnerId: p.partnerId };
  // A partner sees only the id of a user (e.g. an account manager) or event it comes across, and of an
  // ingest result the decision — never the rules or alerts behind it.
  can('read', 'User', ['id']);
  can('read', 'Event', ['id']);
  can('read', 'EventResult', ['event', 'decision', 'duplicate']);
  for (const scope of p.scopes) {
    switch (scope) {
      case 'customers:read':
        can('read', 'Customer', CUSTOMER_ID_FIELDS, own);
        break;
      case 'customers:write':
        can(['create', 'update'], 'Customer', own);
        can('read', 'Customer', CUSTOMER_WRITE_RESULT_FIELDS, own);
        can('create', 'Consent', own);
        break;
      case 'events:write':
        can('ingest', 'Event', p.trustLevel === 'INTERNAL' ? undefined : own);
        break;
      case 'complaints:read':
        can('read', 'Complaint', { filedByPartnerId: p.partnerId });
        break;
      case 'complaints:write':
        can('file', 'Complaint', own);
        // Partners do not handle complaints (SPEC §4); of the handling mutations they get only the feedback on
        // what they filed (§8), so the guard refuses the others before any input is validated.
        can('feedback', 'Complaint', { filedByPartnerId: p.partnerId });
        break;
      case 'verifications:write':
        can('create', 'Verification', own);
        break;
    }
  }
}

/**
 * Whether the principal may run the customer queries (`customer`, `customers`): SPEC §8 gives them to every
 * staff role and to partners with `customers:read`, each of whom reads the whole first row of the field
 * matrix. A grant of only CUSTOMER_WRITE_RESULT_FIELDS (`customers:write` alone) opens no query, though the
 * guard's field-level check for customer reads counts any read grant.
 */
export function canQueryCustomers(ability: AppAbility): boolean {
  return CUSTOMER_ID_FIELDS.every((field) => ability.can('read', 'Customer', field));
}

/**
 * Whether `ability` grants `action` on `subject` as a whole: a rule limited to some fields (a partner's
 * `read Event [id]`) does not count, so a nested connection needs the same permission as the top-level query.
 */
export function canOnWhole(ability: AppAbility, action: Action, subject: SubjectName): boolean {
  if (!ability.can(action, subject)) return false;
  return ability.rulesFor(action, subject).some((r) => !r.inverted && !r.fields);
}
