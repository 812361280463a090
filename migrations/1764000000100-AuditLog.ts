import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The append-only audit log. Rows are hash-chained by the application (keyed HMAC over the previous hash and
 * the row's canonical form); the database refuses UPDATE, DELETE and TRUNCATE outright.
 */
export class AuditLog1764000000100 implements MigrationInterface {
  name = 'AuditLog1764000000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_entry (
        id bigint PRIMARY KEY,
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
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash text NOT NULL,
        hash text NOT NULL
      )`);
    await q.query(`CREATE SEQUENCE audit_entry_id_seq AS bigint OWNED BY audit_entry.id`);
    await q.query(`CREATE INDEX audit_entry_occurred_idx ON audit_entry (occurred_at, id)`);
    await q.query(`CREATE INDEX audit_entry_actor_idx ON audit_entry (actor_id, occurred_at)`);
    await q.query(`CREATE INDEX audit_entry_customer_idx ON audit_entry (customer_id, occurred_at) WHERE customer_id IS NOT NULL`);
    await q.query(`CREATE INDEX audit_entry_action_idx ON audit_entry (action, occurred_at)`);

    await q.query(`
      CREATE FUNCTION audit_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_entry_no_update_delete BEFORE UPDATE OR DELETE ON audit_entry
        FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change()`);
    await q.query(`
      CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
        FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS audit_entry`);
    await q.query(`DROP FUNCTION IF EXISTS audit_entry_refuse_change()`);
  }
}
