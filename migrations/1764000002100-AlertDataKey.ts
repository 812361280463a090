import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notes on an alert are free text about a customer and are sealed under that customer's data key. An alert
 * without a customer (a SYSTEMIC complaint spike) had no key to seal under, so it could take no notes. It now
 * gets a data key of its own (owner `alert:<id>`), created with its first note and wrapped under the KEK like
 * every other data key, so `keys:rotate` rewraps it. Alerts of a customer never use the column.
 */
export class AlertDataKey1764000002100 implements MigrationInterface {
  name = 'AlertDataKey1764000002100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert ADD COLUMN data_key text`);
    await q.query(`ALTER TABLE alert ADD CONSTRAINT alert_data_key_only_without_customer CHECK (data_key IS NULL OR customer_id IS NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert DROP CONSTRAINT alert_data_key_only_without_customer`);
    await q.query(`ALTER TABLE alert DROP COLUMN data_key`);
  }
}
