import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit entries written inside a business transaction land here first and commit with it; the sequencer then
 * chains them into `audit_entry` just after the commit (SPEC §8 "Sealing may happen just after commit"), so a
 * business transaction never holds the chain lock. The columns and checks are `audit_entry`'s data columns, so
 * a row that would not fit the log fails in the writer's transaction, never at sealing. `seq` orders a batch
 * of pending rows; it is not the entry's id (the sequencer assigns ids without gaps), and `occurred_at` here is
 * when the entry was written (the sequencer stamps the chained entry when it chains it). No `prev_hash` here:
 * only the log carries the chain. The sequencer deletes what it chained, so DELETE is allowed on this table;
 * nothing ever changes a pending entry, so UPDATE and TRUNCATE are refused by triggers, as on the log.
 */
export class AuditPendingEntries1764000001400 implements MigrationInterface {
  name = 'AuditPendingEntries1764000001400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_entry_pending (
        seq bigserial PRIMARY KEY,
        occurred_at timestamptz(3) NOT NULL,
        actor_type text NOT NULL CHECK (actor_type IN ('USER','PARTNER','SYSTEM','ANONYMOUS')),
        actor_id text,
        role text,
        partner_id uuid,
        session_id uuid,
        ip text,
        user_agent text,
        request_id text,
        action text NOT NULL,
        resource_type text,
        resource_id text,
        customer_id uuid,
        fields text[] NOT NULL DEFAULT '{}',
        outcome text NOT NULL CHECK (outcome IN ('SUCCESS','DENIED','ERROR')),
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      )`);
    // The denied-access check looks for a DENIED entry of a request before it is chained, too.
    await q.query(`CREATE INDEX audit_entry_pending_denied_idx ON audit_entry_pending (request_id) WHERE outcome = 'DENIED'`);
    await q.query(`
      CREATE FUNCTION audit_entry_pending_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_entry_pending entries leave only by being chained: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_entry_pending_no_update BEFORE UPDATE ON audit_entry_pending
        FOR EACH ROW EXECUTE FUNCTION audit_entry_pending_refuse_change()`);
    await q.query(`
      CREATE TRIGGER audit_entry_pending_no_truncate BEFORE TRUNCATE ON audit_entry_pending
        FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_pending_refuse_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS audit_entry_pending`);
    await q.query(`DROP FUNCTION IF EXISTS audit_entry_pending_refuse_change()`);
  }
}
