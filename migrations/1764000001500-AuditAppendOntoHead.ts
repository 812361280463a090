import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit sequencer's fast path as one statement. Grouped entries (PII reads, denied requests, token use)
 * used to take four round trips — BEGIN, the chain lock, the guarded INSERT, COMMIT — and between each the
 * application's event loop, busy with the requests waiting on that very append, could hold the open
 * transaction (and the chain lock) idle. Called outside a transaction, this function is its own transaction:
 * it takes the chain lock, then inserts the pre-chained rows only if `head_id`/`head_hash` is still the head and
 * no committed pending entry waits to be chained first; the lock is released when the statement commits.
 * The guard and the INSERT run after the lock is granted, each with a snapshot of its own (READ COMMITTED,
 * volatile function), so they see everything the previous lock holder committed. It returns the number of rows appended: 0 when
 * the guard failed (the caller then takes the locked path that chains pending entries first).
 * The columns and their decoding mirror `AUDIT_CHAINED_SOURCE` / `AUDIT_CHAINED_VALUES` in audit-entry-rows.ts:
 * rows in `entries`, the columns every row shares once in `shared`, each row's prev_hash the hash before it.
 */
export class AuditAppendOntoHead1764000001500 implements MigrationInterface {
  name = 'AuditAppendOntoHead1764000001500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_append_onto_head(lock_key bigint, head_id bigint, head_hash text, entries jsonb, shared jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        appended integer;
      BEGIN
        PERFORM pg_advisory_xact_lock(lock_key);
        -- The guard on its own, before the INSERT, and in forms whose plan does not depend on the values:
        -- PL/pgSQL switches to a generic plan after a few calls, and a generic "id > head_id" is planned as
        -- a sequential scan of the whole log. max(id) and the lookup by id stay on the primary key.
        IF (SELECT max(e.id) FROM audit_entry e) IS DISTINCT FROM head_id
           OR NOT EXISTS (SELECT 1 FROM audit_entry e WHERE e.id = head_id AND e.hash = head_hash)
           OR EXISTS (SELECT 1 FROM audit_entry_pending) THEN
          RETURN 0;
        END IF;
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
    await q.query(`DROP FUNCTION IF EXISTS audit_append_onto_head(bigint, bigint, text, jsonb, jsonb)`);
  }
}
