import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Principal } from '../../common/context/principal';
import { CustomerPii } from './customer-pii';
import type { CustomerEntity } from './entities/customer.entity';

/**
 * What the verification module needs of a customer beyond reading it: the contact a one-time code goes
 * to (decrypted only to hand it to the transport) and the stored `verificationLevel`, changed in the
 * caller's transaction and recorded in the profile-change history like any other field change.
 */
@Injectable()
export class CustomerIdentityService {
  constructor(private readonly pii: CustomerPii) {}

  /** The customer's stored phone (E.164) or e-mail, or null when the field is empty (or the key is gone). */
  contact(row: CustomerEntity, field: 'phone' | 'email'): string | null {
    // The model decrypts lazily: only this one field is opened.
    const value = this.pii.toModel(row)[field];
    return value ? value : null;
  }

  /**
   * Recomputes the level under a row lock on the customer (so concurrent results for one customer apply
   * one after the other, each seeing what the previous committed): `compute` runs once the lock is held.
   * When the level changes, one `customer_profile_change` row names the field `verificationLevel` and the
   * actor. Returns the previous and new level, or null when unchanged.
   */
  async recomputeVerificationLevel(
    manager: EntityManager, customerId: string, compute: () => Promise<string>, actor: Principal,
  ): Promise<{ from: string; to: string } | null> {
    const [row] = (await manager.query(`SELECT verification_level FROM customer WHERE id = $1 FOR UPDATE`, [customerId])) as Array<{ verification_level: string }>;
    if (!row) return null;
    const level = await compute();
    if (row.verification_level === level) return null;
    await manager.query(`UPDATE customer SET verification_level = $2, updated_at = now() WHERE id = $1`, [customerId, level]);
    await manager.query(
      `INSERT INTO customer_profile_change (customer_id, fields, actor_type, actor_id) VALUES ($1, $2, $3, $4)`,
      [customerId, ['verificationLevel'], actor.kind, actor.kind === 'USER' ? actor.userId : actor.partnerId],
    );
    return { from: row.verification_level, to: level };
  }
}
