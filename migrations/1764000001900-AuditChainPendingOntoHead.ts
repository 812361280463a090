import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_chain_pending_onto_head`: the sequencer's fast path for entries that business transactions of this
 * instance committed to `audit_entry_pending`. The instance wrote them, so it already holds their columns
 * and the seqs they were given; it chains them (ids, time stamp, keyed hashes) onto the head it wrote last
 * and hands over rows and seqs in one statement that is its own transaction: the chain lock, a guard, the
 * DELETE of exactly those pending rows, the INSERT, the commit. The lock is held for that statement only,
 * not across the take, the hashing in the app and the insert's round trips of the locked path.
 *
 * The guard keeps the locked path's order (commit order, SPEC §8): the head is still the head it names (no
 * other instance or rolled-back append moved it), the given seqs are all still pending (nothing chained them
 * meanwhile), and no other committed entry is pending — it may have committed before these, and the app
 * cannot hash what it did not write. Refused, it writes nothing and returns 0; the app then takes
 * the locked path. READ COMMITTED only, as `audit_append_onto_head` (migration 1700): each statement after
 * the lock must see what the previous holder committed.
 */
export class AuditChainPendingOntoHead1764000001900 implements MigrationInterface {
  name = 'AuditChainPendingOntoHead1764000001900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_chain_pending_onto_head(lock_key bigint, head_id bigint, head_hash text, pending_seqs bigint[], entries jsonb, shared jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        appended integer;
      BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'audit_chain_pending_onto_head needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
        END IF;
        PERFORM pg_advisory_xact_lock(lock_key);
        -- As in audit_append_onto_head: forms whose generic plans stay on the primary keys. The first pending
        -- entry that is not one of these is found walking the pending key in order, not by reading the table.
        IF (SELECT max(e.id) FROM audit_entry e) IS DISTINCT FROM head_id
           OR NOT EXISTS (SELECT 1 FROM audit_entry e WHERE e.id = head_id AND e.hash = head_hash)
           OR (SELECT p.seq FROM audit_entry_pending p WHERE p.seq <> ALL (pending_seqs) ORDER BY p.seq LIMIT 1) IS NOT NULL
           OR (SELECT count(*) FROM audit_entry_pending p WHERE p.seq = ANY (pending_seqs)) <> cardinality(pending_seqs) THEN
          RETURN 0;
        END IF;
        DELETE FROM audit_entry_pending p WHERE p.seq = ANY (pending_seqs);
        INSERT INTO audit_entry (id, occurred_at, actor_type, actor_id, role, partner_id, session_id, ip, user_agent, request_id, action,
                                 resource_type, resource_id, customer_id, fields, outcome, details, prev_hash, hash)
        SELECT r.id, COALESCE(r.occurred_at, s.occurred_at), COALESCE(r.actor_type, s.actor_type), COALESCE(r.actor_id, s.actor_id),
               COALESCE(r.role, s.role), COALESCE(r.partner_id, s.partner_id), COALESCE(r.session_id, s.session_id), COALESCE(r.ip, s.ip),
               COALESCE(r.user_agent, s.user_agent), COALESCE(r.request_id, s.request_id), COALESCE(r.action, s.action),
               COALESCE(r.resource_type, s.resource_type), r.resource_id, r.customer_id, r.fields, COALESCE(r.outcome, s.outcome), r.details,
               COALESCE(lag(r.hash) OVER (ORDER BY r.id), head_hash), r.hash
          FROM jsonb_to_recordset(entries) AS r(id bigint, occurred_at timestamptz, actor_type text, actor_id text, role text, partner_id uuid,
                 session_id uuid, ip text, user_agent text, request_id text, action text, resource_type text, resource_id text, customer_id uuid,
                 fields text[], outcome text, details jsonb, hash text),
               jsonb_to_record(shared) AS s(occurred_at timestamptz, actor_type text, actor_id text, role text, partner_id uuid, session_id uuid,
                 ip text, user_agent text, request_id text, action text, resource_type text, outcome text);
        GET DIAGNOSTICS appended = ROW_COUNT;
        RETURN appended;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION IF EXISTS audit_chain_pending_onto_head(bigint, bigint, text, bigint[], jsonb, jsonb)`);
  }
}
