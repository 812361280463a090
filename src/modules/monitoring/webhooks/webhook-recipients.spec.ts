import { refusalOf, webhookMayReceiveSql, type RecipientState } from './webhook-recipients';
import { WEBHOOK_EVENT_SCOPES, WEBHOOK_EVENT_TYPES, webhookScopeFor } from './webhooks.settings';

const live: RecipientState = {
  event_type: 'complaint.updated', event_types: ['complaint.updated', 'hold.resolved', 'customer.status_changed'], active: true, deleted_at: null, secret_enc: 'e1.x', data_key: 'v1:x',
  partner_suspended: false, partner_in_force: true, allowed_scopes: ['complaints:read'],
};

describe('webhook recipients', () => {
  it('maps every event type to the scope a partner needs to receive it', () => {
    expect(Object.keys(WEBHOOK_EVENT_SCOPES).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    expect(WEBHOOK_EVENT_SCOPES).toEqual({
      'alert.raised': 'events:write', 'hold.placed': 'events:write', 'hold.resolved': 'events:write',
      'complaint.updated': 'complaints:read', 'customer.status_changed': 'customers:read',
    });
    expect(webhookScopeFor('nonsense')).toBe('unknown:nonsense');
  });

  it('refuses a dead webhook, a cut-off partner and a missing scope, with a reason', () => {
    expect(refusalOf(live)).toBeNull();
    expect(refusalOf({ ...live, active: false })).toBe('webhook deleted or deactivated');
    expect(refusalOf({ ...live, deleted_at: new Date(), secret_enc: null, data_key: null })).toBe('webhook deleted or deactivated');
    expect(refusalOf({ ...live, partner_suspended: true, partner_in_force: false })).toBe('partner suspended');
    expect(refusalOf({ ...live, partner_in_force: false })).toBe('partner agreement not in force');
    expect(refusalOf({ ...live, allowed_scopes: ['customers:read'] })).toBe('partner lacks the complaints:read scope');
    expect(refusalOf({ ...live, event_type: 'customer.status_changed' })).toBe('partner lacks the customers:read scope');
    expect(refusalOf({ ...live, event_type: 'hold.resolved', allowed_scopes: ['events:write'] })).toBeNull();
    expect(refusalOf({ ...live, event_types: ['hold.resolved'] })).toBe('webhook no longer subscribed to complaint.updated');
  });

  it('builds one SQL condition from the shared partner standing predicate', () => {
    const sqlText = webhookMayReceiveSql('w', 'p', '$4::text');
    expect(sqlText).toContain('w.active AND w.deleted_at IS NULL');
    expect(sqlText).toContain('p.suspended_at IS NULL AND p.agreement_signed_at <= now() AND p.agreement_expires_at > now()');
    expect(sqlText).toContain('$4::text = ANY (p.allowed_scopes)');
  });
});
