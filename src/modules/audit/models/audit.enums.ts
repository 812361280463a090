import { registerEnumType } from '@nestjs/graphql';

export enum AuditActorType {
  USER = 'USER',
  PARTNER = 'PARTNER',
  SYSTEM = 'SYSTEM',
  ANONYMOUS = 'ANONYMOUS',
}

export enum AuditOutcome {
  SUCCESS = 'SUCCESS',
  DENIED = 'DENIED',
  ERROR = 'ERROR',
}

export enum SecurityAlertKind {
  PII_READ_SPIKE = 'PII_READ_SPIKE',
  DENIED_BURST = 'DENIED_BURST',
  TOKEN_NEW_NETWORK = 'TOKEN_NEW_NETWORK',
  CHAIN_INVALID = 'CHAIN_INVALID',
}

export enum SecurityAlertStatus {
  OPEN = 'OPEN',
  ACKNOWLEDGED = 'ACKNOWLEDGED',
  CLOSED = 'CLOSED',
}

registerEnumType(AuditActorType, {
  name: 'AuditActorType',
  description: 'Who acted: a staff user, a partner token, Custos itself, or an unauthenticated caller',
});
registerEnumType(AuditOutcome, { name: 'AuditOutcome' });
registerEnumType(SecurityAlertKind, {
  name: 'SecurityAlertKind',
  valuesMap: {
    PII_READ_SPIKE: { description: 'One actor read full PII values of more than 50 distinct customers in an hour' },
    DENIED_BURST: { description: 'At least 10 requests by one actor were denied within 10 minutes' },
    TOKEN_NEW_NETWORK: { description: 'A partner token was used from an IPv4 /24 or IPv6 /48 it had never used' },
    CHAIN_INVALID: { description: 'Verification found the audit chain altered, incomplete or cut off' },
  },
});
registerEnumType(SecurityAlertStatus, { name: 'SecurityAlertStatus' });
