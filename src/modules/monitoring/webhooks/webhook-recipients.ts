import { partnerInForceSql } from '../../identity/partners/partner-standing';
import { webhookScopeFor } from './webhooks.settings';

/**
 * Who may be sent a webhook message, decided twice: when the message is addressed (the outbox insert, in
 * the business transaction) and again before every delivery attempt (so that a message queued before a
 * suspension, an agreement's end or a scope's removal is not sent). The partner's standing is the very
 * predicate that decides whether its tokens authenticate (SPEC §5: a suspended partner, an expired
 * agreement or a `FAIL` assessment cuts it off); the scope is `WEBHOOK_EVENT_SCOPES` of the message's type,
 * checked against the partner's current `allowed_scopes`.
 */

/** SQL: live webhook `w` of partner `p` may now receive a message that needs the scope in `scopeSql`. */
export const webhookMayReceiveSql = (w: string, p: string, scopeSql: string): string =>
  `${w}.active AND ${w}.deleted_at IS NULL AND ${partnerInForceSql(p)} AND ${scopeSql} = ANY (${p}.allowed_scopes)`;

/** What the dispatcher reads about a claimed message's webhook and partner (the claim's RETURNING). */
export interface RecipientState {
  event_type: string;
  /** The types the webhook is subscribed to now. */
  event_types: string[];
  active: boolean;
  deleted_at: Date | null;
  secret_enc: string | null;
  data_key: string | null;
  partner_suspended: boolean;
  partner_in_force: boolean;
  allowed_scopes: string[];
}

/**
 * Why a claimed message must not be sent now (it is dead-lettered with this reason, written on the row and
 * in the delivery log), or null when it may be.
 */
export function refusalOf(r: RecipientState): string | null {
  if (!r.active || r.deleted_at || !r.secret_enc || !r.data_key) return 'webhook deleted or deactivated';
  // An admin took the type off the webhook after the message was queued.
  if (!r.event_types.includes(r.event_type)) return `webhook no longer subscribed to ${r.event_type}`;
  if (r.partner_suspended) return 'partner suspended';
  if (!r.partner_in_force) return 'partner agreement not in force';
  const scope = webhookScopeFor(r.event_type);
  if (!r.allowed_scopes.includes(scope)) return `partner lacks the ${scope} scope`;
  return null;
}
