import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The timeline's order is the order its entries were written. `created_at` (clock_timestamp(), to the
 * millisecond) cannot say it: one transaction often writes several entries within a millisecond (the SLA
 * sweep's two ESCALATED entries, a late acknowledgement then its ESCALATED entry), and the random `id`
 * behind it put them in any order. `seq` is taken from a sequence at insert. Entries of one complaint are
 * written under its row lock, so a later change always draws a higher number.
 *
 * Existing rows are numbered by `created_at`, ties in table order (one transaction's entries lie in the
 * order it wrote them), rather than in plain table order, which concurrent writers can interleave. The
 * identity is attached after that back-fill and continues above it.
 */
export class ComplaintActivitySeq1764000002700 implements MigrationInterface {
  name = 'ComplaintActivitySeq1764000002700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE complaint_activity ADD COLUMN seq bigint`);
    await q.query(`
      UPDATE complaint_activity a SET seq = o.n
        FROM (SELECT id, row_number() OVER (ORDER BY created_at, ctid) AS n FROM complaint_activity) o
       WHERE o.id = a.id`);
    await q.query(`ALTER TABLE complaint_activity ALTER COLUMN seq SET NOT NULL`);
    await q.query(`ALTER TABLE complaint_activity ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY`);
    await q.query(`SELECT setval(pg_get_serial_sequence('complaint_activity', 'seq'), (SELECT coalesce(max(seq), 0) + 1 FROM complaint_activity), false)`);
    // Complaint.timeline reads one complaint's entries in this order; the old index served the old order only.
    await q.query(`CREATE INDEX complaint_activity_timeline_idx ON complaint_activity (complaint_id, seq)`);
    await q.query(`DROP INDEX IF EXISTS complaint_activity_complaint_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS complaint_activity_complaint_idx ON complaint_activity (complaint_id, created_at, id)`);
    await q.query(`DROP INDEX IF EXISTS complaint_activity_timeline_idx`);
    await q.query(`ALTER TABLE complaint_activity DROP COLUMN seq`);
  }
}
