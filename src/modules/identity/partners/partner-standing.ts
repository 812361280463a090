/**
 * SQL: the partner row aliased `alias` is in good standing now — not suspended (by an ADMIN or by a `FAIL`
 * assessment) and its agreement in force (signed, not expired). The one definition of "cut off" (SPEC §5):
 * partner tokens stop authenticating (`PartnerTokensService.principalFor`) and webhooks stop being
 * addressed and delivered (`WebhookOutbox`, `WebhookDispatcher`) on the same condition.
 */
export const partnerInForceSql = (alias: string): string =>
  `(${alias}.suspended_at IS NULL AND ${alias}.agreement_signed_at <= now() AND ${alias}.agreement_expires_at > now())`;
