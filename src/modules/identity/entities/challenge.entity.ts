import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export enum SignInStep {
  PASSWORD_CHANGE_REQUIRED = 'PASSWORD_CHANGE_REQUIRED',
  ENROLLMENT_REQUIRED = 'ENROLLMENT_REQUIRED',
  TOTP_REQUIRED = 'TOTP_REQUIRED',
}

/** A half-finished sign-in: the password was right, the next factor is pending. Stored by digest only. */
@Entity('sign_in_challenge')
export class ChallengeEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ name: 'user_id', type: 'uuid' }) userId!: string;
  @Column({ name: 'token_digest' }) tokenDigest!: string;
  @Column({ type: 'text' }) next!: SignInStep;
  /** The secret being enrolled, encrypted with the user's data key, until a first code proves it. */
  @Column({ name: 'pending_totp_secret', type: 'text', nullable: true }) pendingTotpSecret!: string | null;
  @Column({ name: 'failed_attempts' }) failedAttempts!: number;
  @Column({ name: 'expires_at', type: 'timestamptz' }) expiresAt!: Date;
  @Column({ name: 'consumed_at', type: 'timestamptz', nullable: true }) consumedAt!: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
