import { Injectable } from '@nestjs/common';
import { dataKeyOwner } from '../../../common/crypto/envelope';
import { PiiVault } from '../../../common/crypto/pii-vault.service';
import type { UserEntity } from '../entities/user.entity';

type SecretSlot = { table: 'app_user' | 'sign_in_challenge'; column: 'totp_secret' | 'pending_totp_secret'; rowId: string };

/**
 * TOTP secrets are encrypted with the user's own data key (wrapped by PII_KEYS, so `keys:rotate` covers
 * them) and bound to the row and column that holds them.
 */
@Injectable()
export class TotpSecretStore {
  constructor(private readonly vault: PiiVault) {}

  seal(user: Pick<UserEntity, 'id' | 'dataKey'>, secret: string, slot: SecretSlot): string {
    return this.vault.encrypt(this.key(user), secret, slot);
  }

  open(user: Pick<UserEntity, 'id' | 'dataKey'>, sealed: string, slot: SecretSlot): string {
    return this.vault.decrypt(this.key(user), sealed, slot);
  }

  private key(user: Pick<UserEntity, 'id' | 'dataKey'>): Buffer {
    return this.vault.openDataKey(user.dataKey, dataKeyOwner.user(user.id));
  }
}
