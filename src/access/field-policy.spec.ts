import { subject } from '@casl/ability';
import { PARTNER_SCOPES, Role, TrustLevel, type Principal } from '../common/context/principal';
import { defineAbilityFor, type AppAbility, type SubjectName } from './abilities';
import { fieldAccess, type FieldAccess } from './field-policy';

/** The decision made the slow way: CASL asked about this very row for each action. */
function perRow(ability: AppAbility, principal: Principal, name: SubjectName, row: Record<string, unknown>, field: string): FieldAccess {
  const target = subject(name as never, { ...row } as never);
  if (ability.can('read', target, field)) return 'FULL';
  const masked = ability.can('readMasked', target, field);
  if (ability.can('readAfterStepUp', target, field)) {
    const stepped = principal.kind === 'USER' && principal.stepUpUntil !== null && principal.stepUpUntil.getTime() > Date.now();
    return stepped ? 'FULL' : masked ? 'MASKED' : 'STEP_UP';
  }
  return masked ? 'MASKED' : 'FORBIDDEN';
}

const ME = '00000000-0000-4000-8000-000000000001';
const OTHER = '00000000-0000-4000-8000-000000000002';
const PARTNER = '00000000-0000-4000-8000-0000000000a1';

const principals: Principal[] = [
  ...Object.values(Role).flatMap((role): Principal[] => [
    { kind: 'USER', userId: ME, role, sessionId: 's', stepUpUntil: null },
    { kind: 'USER', userId: ME, role, sessionId: 's', stepUpUntil: new Date(Date.now() + 60_000) },
    { kind: 'USER', userId: ME, role, sessionId: 's', stepUpUntil: new Date(Date.now() - 1) },
  ]),
  ...Object.values(TrustLevel).map((trustLevel): Principal => ({ kind: 'PARTNER', partnerId: PARTNER, tokenId: 't', trustLevel, scopes: [...PARTNER_SCOPES] })),
];

const customerFields = ['id', 'externalRef', 'status', 'fullName', 'email', 'phone', 'nationalId', 'dateOfBirth', 'address', 'riskScore', 'riskLevel', 'creditLimit', 'transactionLimit', 'createdAt'];
const rows: Array<Record<string, unknown>> = [
  { id: 'c1', accountManagerId: ME, onboardedByPartnerId: PARTNER },
  { id: 'c2', accountManagerId: OTHER, onboardedByPartnerId: null },
  { id: 'c3', accountManagerId: null, onboardedByPartnerId: OTHER },
];
const userRows: Array<Record<string, unknown>> = [{ id: ME }, { id: OTHER }];

describe('fieldAccess', () => {
  it.each(principals.map((p) => [p.kind === 'USER' ? `${p.role}${p.stepUpUntil ? (p.stepUpUntil > new Date() ? ' stepped up' : ' step-up expired') : ''}` : `PARTNER ${p.trustLevel}`, p] as const))(
    'decides every Customer and User field of every row as CASL does row by row (%s)',
    (_label, principal) => {
      const ability = defineAbilityFor(principal);
      // Asked twice: the second round answers from the per-ability cache.
      for (let round = 0; round < 2; round++) {
        for (const row of rows) for (const field of customerFields) {
          expect([field, row.id, fieldAccess(ability, principal, 'Customer', row, field)]).toEqual([field, row.id, perRow(ability, principal, 'Customer', row, field)]);
        }
        for (const row of userRows) for (const field of ['id', 'displayName', 'role', 'email', 'mfaEnabled']) {
          expect([field, row.id, fieldAccess(ability, principal, 'User', row, field)]).toEqual([field, row.id, perRow(ability, principal, 'User', row, field)]);
        }
      }
    },
  );

  it('still tells rows apart where a condition decides (an account manager, own customer vs another)', () => {
    const principal: Principal = { kind: 'USER', userId: ME, role: Role.ACCOUNT_MANAGER, sessionId: 's', stepUpUntil: null };
    const ability = defineAbilityFor(principal);
    const own = fieldAccess(ability, principal, 'Customer', rows[0], 'fullName');
    const other = fieldAccess(ability, principal, 'Customer', rows[1], 'fullName');
    expect(own).not.toBe('FORBIDDEN');
    expect(other).toBe('FORBIDDEN');
  });
});
