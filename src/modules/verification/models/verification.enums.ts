import { registerEnumType } from '@nestjs/graphql';

export enum VerificationMethod { SMS_OTP = 'SMS_OTP', EMAIL_OTP = 'EMAIL_OTP', DOCUMENT = 'DOCUMENT', BIOMETRIC = 'BIOMETRIC' }
export enum OtpMethod { SMS_OTP = 'SMS_OTP', EMAIL_OTP = 'EMAIL_OTP' }
export enum ExternalMethod { DOCUMENT = 'DOCUMENT', BIOMETRIC = 'BIOMETRIC' }
export enum VerificationResult { PASSED = 'PASSED', FAILED = 'FAILED', REVIEW = 'REVIEW' }
export enum VerificationStatus {
  PENDING = 'PENDING', PASSED = 'PASSED', FAILED = 'FAILED', REVIEW = 'REVIEW', EXPIRED = 'EXPIRED', LOCKED = 'LOCKED', SUPERSEDED = 'SUPERSEDED',
}

registerEnumType(VerificationMethod, { name: 'VerificationMethod' });
registerEnumType(OtpMethod, { name: 'OtpMethod', description: 'Channels a one-time code can be sent through' });
registerEnumType(ExternalMethod, { name: 'ExternalVerificationMethod', description: 'Checks run by an external provider' });
registerEnumType(VerificationResult, { name: 'VerificationResult' });
registerEnumType(VerificationStatus, {
  name: 'VerificationStatus',
  description: 'A challenge is PENDING until PASSED, LOCKED (5 wrong codes), EXPIRED or SUPERSEDED by a newer one; a wrong code answers FAILED with attemptsLeft while the challenge lives on. An external result is its result.',
});
