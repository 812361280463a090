import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { Role } from '../../../common/context/principal';

/** A staff account. Secrets (password hash, TOTP secret) never leave this module. */
@Entity('app_user')
export class UserEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column() email!: string;
  @Column({ name: 'email_normalized' }) emailNormalized!: string;
  @Column({ name: 'display_name' }) displayName!: string;
  @Column({ type: 'text' }) role!: Role;
  @Column({ name: 'password_hash' }) passwordHash!: string;
  @Column({ name: 'password_change_required' }) passwordChangeRequired!: boolean;
  /** The user's data key, wrapped by the active key-encryption key; encrypts the TOTP secret. */
  @Column({ name: 'data_key' }) dataKey!: string;
  @Column({ name: 'totp_secret', type: 'text', nullable: true }) totpSecret!: string | null;
  @Column({ name: 'totp_last_step', type: 'bigint', nullable: true }) totpLastStep!: string | null;
  @Column({ name: 'totp_enrolled_at', type: 'timestamptz', nullable: true }) totpEnrolledAt!: Date | null;
  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true }) disabledAt!: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}
