import type { AppConfig } from '../../config/config';
import { PII_READ_ACTION } from '../../common/audit/audit-sink';

/**
 * Every interval of the audit module in one place (SPEC §5 "Security alerts", §8 "Audit chain"). The
 * security-alert thresholds come from the validated config (`SECURITY_ALERT_*`, see README), defaults below.
 */
export const AUDIT_SETTINGS = {
  /** Head checkpoints (outside the table, so a cut-off tail is detected). */
  checkpoint: {
    /** Checkpoint at once after this many appends by this instance… */
    everyEntries: 1000,
    /** …and otherwise at most this long after the last append. */
    intervalMs: 5_000,
  },
  /** Full-chain verification in the background; one instance at a time. */
  verification: {
    intervalMs: 60 * 60_000,
    batchSize: 1000,
  },
  /** Rows per query when streaming `GET /audit/export`. */
  exportBatchSize: 1000,
  /** The security-alert detector that reads the audit stream behind a cursor. */
  detector: {
    intervalMs: 2_000,
    /** Audit ids scanned per transaction. */
    scanSize: 5_000,
  },
} as const;


/**
 * The DENIED entries DENIED_BURST counts: the principal's own access refused. Authentication — sign-in steps
 * and step-up (a wrong password or code, a lockout), session refresh, a wrong current password, an invalid
 * credential — and authorisation: the guard, the field policy, refusals raised in services (`access.denied`,
 * except batch items not found, see `BATCH_ITEMS_NOT_FOUND`) and by-id reads out of scope. Not counted:
 * outcomes that are someone else's failure recorded under the principal, such as `verification.complete`
 * DENIED, a customer's wrong one-time code entered by the agent or partner verifying them.
 */
export const ACCESS_REFUSAL_ACTIONS: readonly string[] = [
  'access.denied', 'access.denied_fields', 'auth.invalid_credential',
  'auth.login', 'auth.totp_enrollment', 'auth.totp_verify', 'auth.recovery_code', 'auth.step_up', 'auth.lockout',
  'auth.session_refresh', 'auth.refresh_token_reuse', 'user.change_password',
  'customer.read', 'complaint.read', 'verification.read',
];

/** The security-alert rules with the thresholds configured for this instance. */
export function securityAlertSettings(config: Pick<AppConfig, 'securityAlerts'>) {
  const t = config.securityAlerts;
  return {
    /** One actor reading full values of these fields for more than `distinctCustomers` customers in `windowMs`. */
    piiReadSpike: {
      action: PII_READ_ACTION,
      fields: ['email', 'phone', 'nationalId', 'dateOfBirth', 'address'] as const,
      distinctCustomers: t.piiReadCustomers,
      windowMs: t.piiReadWindowMs,
    },
    /** At least `requests` requests with an access refusal by one actor in `windowMs` (one per request id; ACCESS_REFUSAL_ACTIONS). */
    deniedBurst: { requests: t.deniedRequests, windowMs: t.deniedWindowMs },
    /** A partner token used from a network (IPv4 /24, IPv6 /48) it was never used from before. */
    tokenNewNetwork: { action: 'partner_token.use', ipv4PrefixBits: 24, ipv6PrefixBits: 48 },
  };
}

/** Advisory lock keys (one namespace per purpose, fixed so every instance agrees). */
export const AUDIT_LOCKS = {
  /** The sequencer: held from an append to its commit. */
  append: 872_411_001,
  /** At most one instance runs the periodic full verification. */
  verification: 872_411_002,
} as const;
