import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Chain anchors: one row per closed segment of the audit log (a range of entry ids), sealed by
 * `npm run audit:anchor` before an operator archives the segment. An anchor keeps the segment's last hash,
 * so `verifyAuditChain` can start at the first retained entry once the older ones are gone.
 *
 * Anchors are numbered 1, 2, 3… under the audit sequencer's lock and cover the log end to end
 * (`first_id` = the previous anchor's `last_id` + 1). `hash` is HMAC-SHA-256 with AUDIT_CHAIN_KEY over the
 * previous anchor's hash and every other column (see `anchorHash`), so database access alone cannot forge,
 * edit or drop an anchor unnoticed. The previous hash is not stored: SPEC §8 keeps `prev_hash` to
 * `audit_entry`, and the anchor before is one row up anyway. Append-only like `audit_entry`.
 */
export class AuditChainAnchors1764000001200 implements MigrationInterface {
  name = 'AuditChainAnchors1764000001200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_chain_anchor (
        id bigint PRIMARY KEY CHECK (id > 0),
        segment text NOT NULL CHECK (length(segment) BETWEEN 1 AND 100),
        first_id bigint NOT NULL UNIQUE CHECK (first_id > 0),
        last_id bigint NOT NULL UNIQUE,
        first_occurred_at timestamptz(3) NOT NULL,
        last_occurred_at timestamptz(3) NOT NULL,
        last_hash text NOT NULL CHECK (last_hash ~ '^[0-9a-f]{64}$'),
        entry_count bigint NOT NULL,
        sealed_at timestamptz(3) NOT NULL,
        sealed_by text NOT NULL,
        hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        CHECK (last_id >= first_id),
        CHECK (entry_count = last_id - first_id + 1)
      )`);
    // Its own function so the message names the table (`audit_entry_refuse_change` names audit_entry).
    await q.query(`
      CREATE FUNCTION audit_chain_anchor_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_chain_anchor is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_chain_anchor_no_update_delete BEFORE UPDATE OR DELETE ON audit_chain_anchor
        FOR EACH ROW EXECUTE FUNCTION audit_chain_anchor_refuse_change()`);
    await q.query(`
      CREATE TRIGGER audit_chain_anchor_no_truncate BEFORE TRUNCATE ON audit_chain_anchor
        FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_anchor_refuse_change()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS audit_chain_anchor`);
    await q.query(`DROP FUNCTION IF EXISTS audit_chain_anchor_refuse_change()`);
  }
}
