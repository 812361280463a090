import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_entry_pii_read_idx` (actor, time) over PII reads only duplicated `audit_entry_actor_idx` (actor,
 * time) over every entry. The one query it served, the PII-read-spike count of one actor's last hour, reads
 * each entry's outcome, actor type and fields from the table anyway, so it loses only the step past the
 * actor's other entries of that hour. PII reads are the log's most frequent entries (one per customer of a
 * page), and every one of them paid for the extra index: the chain's insert is the serial part of auditing.
 */
export class AuditDropPiiReadIndex1764000001600 implements MigrationInterface {
  name = 'AuditDropPiiReadIndex1764000001600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS audit_entry_pii_read_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS audit_entry_pii_read_idx ON audit_entry (actor_id, occurred_at) INCLUDE (customer_id)
                     WHERE action = 'customer.read_pii'`);
  }
}
