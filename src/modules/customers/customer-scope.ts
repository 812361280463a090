import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { Principal } from '../../common/context/principal';
import { Role } from '../../common/context/principal';

/**
 * Row scope in SQL (mirrors the CASL conditions): an account manager sees the customers they manage, a
 * partner those it onboarded, other staff all. Applied to every query, so out-of-scope rows never load.
 */
export function applyCustomerScope<T extends ObjectLiteral>(query: SelectQueryBuilder<T>, alias: string, principal: Principal): SelectQueryBuilder<T> {
  if (principal.kind === 'PARTNER') return query.andWhere(`${alias}.onboarded_by_partner_id = :scopePartner`, { scopePartner: principal.partnerId });
  if (principal.role === Role.ACCOUNT_MANAGER) return query.andWhere(`${alias}.account_manager_id = :scopeManager`, { scopeManager: principal.userId });
  return query;
}
