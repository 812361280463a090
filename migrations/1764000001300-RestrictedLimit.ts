import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A RESTRICTED customer's money-moving events are held above this amount (SPEC: `RESTRICTED` → `HOLD` above
 * the restricted limit). Set by the sanction that restricts the customer; NULL while restricted holds every
 * amount.
 */
export class RestrictedLimit1764000001300 implements MigrationInterface {
  name = 'RestrictedLimit1764000001300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer ADD COLUMN restricted_limit numeric(20,2) CHECK (restricted_limit >= 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE customer DROP COLUMN restricted_limit`);
  }
}
