import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { FieldPolicyRequest } from '../access/field-policy';
import { PII_READ_ACTION, type AuditRecord, type AuditSink } from '../common/audit/audit-sink';

/**
 * Writes what the field policy collected during execution before the response leaves: one entry per
 * customer whose PII was read in full (naming the fields, never the values) and one entry for the fields
 * refused in this request (a denial counts once per request).
 */
export function fieldAuditPlugin(audit: AuditSink): ApolloServerPlugin<BaseContext> {
  const flush = fieldAuditFlusher(audit);
  return {
    async requestDidStart({ contextValue }) {
      return {
        async willSendResponse() {
          const req = (contextValue as { req?: FieldPolicyRequest }).req;
          if (req) await flush(req);
        },
      };
    },
  };
}

/** Writes and clears what the field policy collected on one request (or one subscription message). */
export function fieldAuditFlusher(audit: AuditSink): (req: FieldPolicyRequest) => Promise<void> {
  return async (req) => {
    const collected = req.custosFieldAudit;
    if (!collected) return;
    req.custosFieldAudit = undefined;
    const entries: AuditRecord[] = [...collected.piiReads].map(([customerId, fields]) => ({
      action: PII_READ_ACTION, outcome: 'SUCCESS', resourceType: 'Customer', resourceId: customerId, customerId, fields: [...fields].sort(),
    }));
    if (collected.denied.size) {
      entries.push({ action: 'access.denied_fields', outcome: 'DENIED', fields: [...collected.denied].sort(), details: { reason: 'field policy' } });
    }
    // One append for the whole page: one lock, one multi-row insert.
    await audit.recordMany(entries);
  };
}
