import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_append_onto_head` (migration 1500), two changes found in review:
 * - it refuses to run under any isolation but READ COMMITTED (a REPEATABLE READ default set on the role or
 *   the database would take the guard's snapshot before the lock, and a read's entry could then overtake a
 *   pending entry committed while it waited); the caller falls back to the locked path, which reports;
 * - the pending-entry check reads the primary key (`ORDER BY seq LIMIT 1`) rather than the table, so an
 *   empty but bloated pending table is not read page by page while the chain lock is held.
 */

/** The refusal of any isolation but READ COMMITTED, which this migration adds at the top of the function. */
const ISOLATION_CHECK = `        -- Its guarantees hold under READ COMMITTED only: each statement below must see what the previous lock
        -- holder committed, and a REPEATABLE READ snapshot (a role's or database's default) predates the lock.
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'audit_append_onto_head needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
        END IF;
`;

/** The function as this migration leaves it (`checked`) and as migration 1500 created it (for `down`). */
function definition(checked: boolean): string {
  return `
      CREATE OR REPLACE FUNCTION audit_append_onto_head(lock_key bigint, head_id bigint, head_hash text, entries jsonb, shared jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        appended integer;
      BEGIN
${checked ? ISOLATION_CHECK : ''}        PERFORM pg_advisory_xact_lock(lock_key);
        -- The guard on its own, before the INSERT, and in forms whose plan does not depend on the values:
        -- PL/pgSQL switches to a generic plan after a few calls, and a generic "id > head_id" is planned as
        -- a sequential scan of the whole log. max(id) and the lookup by id stay on the primary key.
        IF (SELECT max(e.id) FROM audit_entry e) IS DISTINCT FROM head_id
           OR NOT EXISTS (SELECT 1 FROM audit_entry e WHERE e.id = head_id AND e.hash = head_hash)
           OR ${checked ? '(SELECT p.seq FROM audit_entry_pending p ORDER BY p.seq LIMIT 1) IS NOT NULL' : 'EXISTS (SELECT 1 FROM audit_entry_pending)'} THEN
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
      $$`;
}

export class AuditAppendOntoHeadChecks1764000001700 implements MigrationInterface {
  name = 'AuditAppendOntoHeadChecks1764000001700';

  async up(q: QueryRunner): Promise<void> {
    await q.query(definition(true));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(definition(false));
  }
}
