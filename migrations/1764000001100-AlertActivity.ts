import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An alert's activity says what each entry is (ASSIGNED, TRANSITION, NOTE) and whom an assignment named,
 * instead of a marker in the note column, so notes (encrypted under the customer's key) read back cleanly.
 * A note-only entry keeps the alert's status on both sides.
 */
export class AlertActivity1764000001100 implements MigrationInterface {
  name = 'AlertActivity1764000001100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert_activity ADD COLUMN kind text NOT NULL DEFAULT 'TRANSITION' CHECK (kind IN ('ASSIGNED','TRANSITION','NOTE'))`);
    await q.query(`ALTER TABLE alert_activity ADD COLUMN assignee_id uuid`);
    await q.query(`UPDATE alert_activity a SET kind = 'ASSIGNED', note = NULL, assignee_id = al.assignee_id
                     FROM alert al WHERE al.id = a.alert_id AND a.note = 'assigned' AND a.from_status IS NOT DISTINCT FROM a.to_status`);
    await q.query(`ALTER TABLE alert_activity ALTER COLUMN kind DROP DEFAULT`);
    // Alerts in `orderBy: {field: LAST_SEEN_AT}` and by severity page over these.
    await q.query(`CREATE INDEX alert_last_seen_idx ON alert (last_seen_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS alert_last_seen_idx`);
    await q.query(`UPDATE alert_activity SET note = 'assigned' WHERE kind = 'ASSIGNED'`);
    await q.query(`ALTER TABLE alert_activity DROP COLUMN assignee_id`);
    await q.query(`ALTER TABLE alert_activity DROP COLUMN kind`);
  }
}
