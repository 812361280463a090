import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Role } from '../../../common/context/principal';
import { BadUserInputError, ConflictError } from '../../../common/errors/app-error';
import { APP_CONFIG } from '../../../config/config.module';
import { ConfigError, type AppConfig } from '../../../config/config';
import { UsersService } from './users.service';

/**
 * Creates the first ADMIN when no user exists: from BOOTSTRAP_ADMIN_EMAIL/PASSWORD, or in development with
 * a generated password printed once. Production without users and without a bootstrap password refuses
 * to start. The bootstrap password is not forced to change (the operator chose it).
 */
@Injectable()
export class BootstrapAdminService implements OnApplicationBootstrap {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly users: UsersService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if ((await this.users.count()) > 0) return;
    const { email } = this.config.bootstrapAdmin;
    let password = this.config.bootstrapAdmin.password;
    if (!password) {
      if (this.config.isProduction) {
        throw new ConfigError('no user exists yet: set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD for the first start');
      }
      password = `${randomBytes(12).toString('base64url')}-${randomBytes(6).toString('hex')}`;
    }
    try {
      await this.users.create(
        { email, displayName: 'Administrator', role: Role.ADMIN, initialPassword: password },
        { passwordChangeRequired: false, action: 'user.bootstrap_admin' },
      );
    } catch (error) {
      // Another instance created it first (seen by the service's check, or by the unique index).
      if (error instanceof ConflictError || (error as { driverError?: { code?: string } }).driverError?.code === '23505') return;
      if (error instanceof BadUserInputError) throw new ConfigError(`BOOTSTRAP_ADMIN_PASSWORD ${error.message.replace(/^initialPassword /, '')}`);
      throw error;
    }
    if (this.config.nodeEnv !== 'test') {
      const shown = this.config.bootstrapAdmin.password ? '(from BOOTSTRAP_ADMIN_PASSWORD)' : password;
      process.stdout.write(`Bootstrap admin created: ${email} / ${shown}\nSign in with login, then enroll TOTP (beginTotpEnrollment).\n`);
    }
  }
}
