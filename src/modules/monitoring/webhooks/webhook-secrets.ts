import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { PiiVault } from '../../../common/crypto/pii-vault.service';

/** Data-key owner of a webhook's signing secret (wrap AAD); `keys:rotate` must use the same spelling. */
export const webhookKeyOwner = (webhookId: string): string => `webhook:${webhookId}`;

const aad = (webhookId: string) => ({ table: 'webhook', column: 'secret', rowId: webhookId });

/**
 * Webhook signing secrets: 32 random bytes (base64url), shown once, stored AES-256-GCM encrypted under a
 * data key of their own (wrapped by the PII key-encryption key), bound to the webhook's row. Deleting the
 * webhook destroys the wrapped key, so the secret cannot be recovered from a backup either.
 */
@Injectable()
export class WebhookSecrets {
  constructor(private readonly vault: PiiVault) {}

  issue(webhookId: string): { secret: string; secretEnc: string; dataKey: string } {
    const secret = randomBytes(32).toString('base64url');
    const { dek, wrapped } = this.vault.newDataKey(webhookKeyOwner(webhookId));
    try {
      return { secret, secretEnc: this.vault.encrypt(dek, secret, aad(webhookId)), dataKey: wrapped };
    } finally {
      dek.fill(0);
    }
  }

  open(webhookId: string, secretEnc: string, dataKey: string): string {
    const dek = this.vault.openDataKey(dataKey, webhookKeyOwner(webhookId));
    try {
      return this.vault.decrypt(dek, secretEnc, aad(webhookId));
    } finally {
      dek.fill(0);
    }
  }

  /** Drops the cached key of a destroyed secret. */
  forget(dataKey: string | null): void {
    if (dataKey) this.vault.forget(dataKey);
  }
}
