import { canOnWhole, defineAbilityFor, CUSTOMER_ID_FIELDS, type AppAbility, type SubjectName } from './abilities';
import { PARTNER_SCOPES, Role, TrustLevel, type Principal } from '../common/context/principal';

/** One column of the matrix: a role (or a partner holding every scope), with an "own" row where scope applies. */
export const MATRIX_PRINCIPALS: Array<{ label: string; principal: Principal; own?: Record<string, unknown> }> = [
  ...Object.values(Role).map((role) => ({
    label: role === Role.ACCOUNT_MANAGER ? `${role} (own)` : role,
    principal: { kind: 'USER' as const, userId: 'u-self', role, sessionId: 's', stepUpUntil: null },
    own: role === Role.ACCOUNT_MANAGER ? { accountManagerId: 'u-self' } : undefined,
  })),
  {
    label: 'PARTNER (own)',
    principal: { kind: 'PARTNER' as const, partnerId: 'p-self', tokenId: 't', trustLevel: TrustLevel.EXTERNAL, scopes: [...PARTNER_SCOPES] },
    // Its customers are those it onboarded; its complaints those it filed.
    own: { onboardedByPartnerId: 'p-self', filedByPartnerId: 'p-self' },
  },
];

/** Rows of the customer field matrix, grouped as SPEC §4 prints them. */
export const CUSTOMER_FIELD_ROWS: string[][] = [
  CUSTOMER_ID_FIELDS.filter((f) => ['id', 'externalRef', 'status', 'lifecycleStage', 'verificationLevel', 'createdAt'].includes(f)),
  ['fullName'],
  ['email', 'phone'],
  ['nationalId'],
  ['dateOfBirth', 'address'],
  ['riskScore', 'riskFactors'],
  ['riskLevel'],
  ['creditScore', 'creditLevel', 'creditLimit'],
  ['transactionLimit', 'dailyLimit'],
];

/** R = full value, M = masked, S = full value after step-up (masked or refused before), — = forbidden. */
export function customerFieldCell(ability: AppAbility, row: Record<string, unknown>, field: string): 'R' | 'M' | 'S' | '—' {
  const target = { __caslSubjectType__: 'Customer', ...row } as never;
  if (ability.can('read', target, field)) return 'R';
  if (ability.can('readAfterStepUp', target, field)) return 'S';
  if (ability.can('readMasked', target, field)) return 'M';
  return '—';
}

const ACTIONS: Array<{ label: string; action: Parameters<AppAbility['can']>[0]; subject: string }> = [
  { label: 'users, partners, partner tokens, webhooks', action: 'manage', subject: 'Webhook' },
  { label: 'read customers', action: 'read', subject: 'Customer' },
  { label: 'createCustomer, updateCustomer', action: 'create', subject: 'Customer' },
  { label: 'recordConsent', action: 'create', subject: 'Consent' },
  { label: 'eraseCustomer (with step-up)', action: 'erase', subject: 'Customer' },
  { label: 'read events', action: 'read', subject: 'Event' },
  { label: 'ingestEvents', action: 'ingest', subject: 'Event' },
  { label: 'rules: read (whole rules)', action: 'read', subject: 'Rule' },
  { label: 'rules: create, update', action: 'create', subject: 'Rule' },
  { label: 'rules: activate, retire', action: 'activate', subject: 'Rule' },
  { label: 'watchlists', action: 'manage', subject: 'Watchlist' },
  { label: 'alerts: read', action: 'read', subject: 'Alert' },
  { label: 'alerts: assign', action: 'assign', subject: 'Alert' },
  { label: 'alerts: transition', action: 'transition', subject: 'Alert' },
  { label: 'resolveHold', action: 'resolve', subject: 'Hold' },
  { label: 'complaints: read', action: 'read', subject: 'Complaint' },
  { label: 'complaints: file', action: 'file', subject: 'Complaint' },
  { label: 'complaints: handle', action: 'handle', subject: 'Complaint' },
  { label: 'recordComplaintFeedback', action: 'feedback', subject: 'Complaint' },
  { label: 'complaintStats, repeatComplainants', action: 'read', subject: 'ComplaintStats' },
  { label: 'customer verification', action: 'create', subject: 'Verification' },
  { label: 'customer verification: read', action: 'read', subject: 'Verification' },
  { label: 'cases, sanctions: read', action: 'read', subject: 'Case' },
  { label: 'cases: open, note', action: 'open', subject: 'Case' },
  { label: 'propose sanction', action: 'propose', subject: 'Sanction' },
  { label: 'approve / reject / lift sanction', action: 'decide', subject: 'Sanction' },
  { label: 'evaluation', action: 'create', subject: 'Evaluation' },
  { label: 'earlyWarnings', action: 'read', subject: 'EarlyWarning' },
  { label: 'recordCreditAssessment', action: 'create', subject: 'CreditAssessment' },
  { label: 'audit log, chain verification, export', action: 'read', subject: 'AuditLog' },
  { label: 'security alerts', action: 'read', subject: 'SecurityAlert' },
  { label: "one customer's access report", action: 'read', subject: 'AccessReport' },
];

/** The permission matrix as markdown, computed from the CASL definitions (never written by hand). */
export function permissionMatrixMarkdown(): string {
  const cols = MATRIX_PRINCIPALS.map((c) => ({ ...c, ability: defineAbilityFor(c.principal) }));
  const header = (first: string) => [`| ${first} | ${cols.map((c) => c.label).join(' | ')} |`, `|---|${cols.map(() => '---|').join('')}`];
  const lines = [
    '# Permission matrix',
    '',
    'Generated from the CASL definitions in `src/access/abilities.ts` by `npm run permissions`; a test fails when this file is stale.',
    '',
    '## Customer fields',
    '',
    'R = full value, M = masked, S = full value after step-up MFA, — = forbidden (null with `FORBIDDEN`).',
    '',
    ...header('field'),
    ...CUSTOMER_FIELD_ROWS.map((fields) => `| ${fields.map((f) => `\`${f}\``).join(', ')} | ${cols.map((c) => customerFieldCell(c.ability, c.own ?? {}, fields[0])).join(' | ')} |`),
    '',
    '## Actions',
    '',
    '✓ = allowed, own = only rows in the principal\'s scope; a partner needs the matching token scope.',
    '',
    ...header('action'),
    ...ACTIONS.map((a) => {
      const cells = cols.map((c) => {
        // A field-limited rule (a partner's `read Event [id]`) is not access to the subject; customer fields have their own table.
        if (a.subject !== 'Customer' && !canOnWhole(c.ability, a.action, a.subject as SubjectName)) return ' ';
        if (c.ability.can(a.action, { __caslSubjectType__: a.subject, ...(c.own ?? {}) } as never)) {
          return c.ability.can(a.action, { __caslSubjectType__: a.subject } as never) ? '✓' : 'own';
        }
        return ' ';
      });
      return `| ${a.label} | ${cells.join(' | ')} |`;
    }),
    '',
  ];
  return lines.join('\n');
}
