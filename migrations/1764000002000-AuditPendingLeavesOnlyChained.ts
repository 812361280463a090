import type { MigrationInterface, QueryRunner } from 'typeorm';
import { AuditChainPendingOntoHead1764000001900 } from './1764000001900-AuditChainPendingOntoHead';

/** The log's columns as the chaining functions copy them from a pending row. */
const COPIED = `actor_type, actor_id, role, partner_id, session_id, ip, user_agent, request_id, action, resource_type, resource_id, customer_id, fields, outcome, details`;

/**
 * A pending audit entry now leaves `audit_entry_pending` only by entering the log. The application role no
 * longer needs DELETE on the pending table (docs/AUDIT.md, "Least-privilege database roles"): both ways out
 * are functions that run with their owner's rights (SECURITY DEFINER) and move rows — the DELETE of a pending
 * row and the INSERT of its content into `audit_entry` are one statement. The caller supplies only where each
 * entry goes in the chain (id, keyed hash, time stamp); the content is copied from the pending row, never
 * taken from the caller, so an application that could call them still cannot make an entry vanish or change
 * it: at worst it chains an entry under a wrong hash, which verification reports as a break.
 *
 * - `audit_chain_pending(seqs, ids, hashes, head_hash, stamped)`: the locked path (the caller holds the
 *   chain lock): moves exactly these pending rows, `seqs[i]` as entry `ids[i]` with `hashes[i]`, each
 *   `prev_hash` the hash of the entry before it (`head_hash` for the first). Raises unless every seq was
 *   pending and the ids and hashes match them one for one, so nothing is half-moved.
 * - `audit_chain_pending_onto_head`: the fast path of migration 1900, same lock and guard, now with the
 *   staged entries' ids and hashes in arrays (their content from the table) and the direct appends after
 *   them as before (content from the caller, which may insert into the log anyway).
 *
 * Both fix `search_path` (pg_temp last), as any SECURITY DEFINER function must, and EXECUTE is revoked from
 * PUBLIC: the deployment grants it to the application role. They also check READ COMMITTED, as 1700 and 1900.
 */
export class AuditPendingLeavesOnlyChained1764000002000 implements MigrationInterface {
  name = 'AuditPendingLeavesOnlyChained1764000002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_chain_pending(seqs bigint[], ids bigint[], hashes text[], head_hash text, stamped timestamptz)
      RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      DECLARE
        moved integer;
      BEGIN
        IF cardinality(ids) IS DISTINCT FROM cardinality(seqs) OR cardinality(hashes) IS DISTINCT FROM cardinality(seqs) THEN
          RAISE EXCEPTION 'audit_chain_pending: % seqs, % ids, % hashes', cardinality(seqs), cardinality(ids), cardinality(hashes)
            USING ERRCODE = 'invalid_parameter_value';
        END IF;
        WITH given AS (SELECT * FROM unnest(seqs, ids, hashes) AS k(seq, id, hash)),
             moving AS (
               DELETE FROM audit_entry_pending p USING given k WHERE p.seq = k.seq
               RETURNING k.id AS chain_id, k.hash AS chain_hash, ${COPIED.replace(/(\w+)/g, 'p.$1')})
        INSERT INTO audit_entry (id, occurred_at, ${COPIED}, prev_hash, hash)
        SELECT m.chain_id, stamped, ${COPIED.replace(/(\w+)/g, 'm.$1')}, COALESCE(lag(m.chain_hash) OVER (ORDER BY m.chain_id), head_hash), m.chain_hash
          FROM moving m;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved <> COALESCE(cardinality(seqs), 0) THEN
          RAISE EXCEPTION 'audit_chain_pending: % of % entries were pending', moved, cardinality(seqs) USING ERRCODE = 'no_data_found';
        END IF;
        RETURN moved;
      END
      $$`);
    await q.query(`DROP FUNCTION audit_chain_pending_onto_head(bigint, bigint, text, bigint[], jsonb, jsonb)`);
    await q.query(`
      CREATE FUNCTION audit_chain_pending_onto_head(lock_key bigint, head_id bigint, head_hash text, pending_seqs bigint[], pending_ids bigint[],
                                                    pending_hashes text[], stamped timestamptz, entries jsonb, shared jsonb)
      RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      DECLARE
        moved integer;
        appended integer;
      BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'audit_chain_pending_onto_head needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
        END IF;
        PERFORM pg_advisory_xact_lock(lock_key);
        -- Migration 1900's guard: the head is the one named, the given seqs are all pending, nothing else is.
        IF (SELECT max(e.id) FROM audit_entry e) IS DISTINCT FROM head_id
           OR NOT EXISTS (SELECT 1 FROM audit_entry e WHERE e.id = head_id AND e.hash = head_hash)
           OR (SELECT p.seq FROM audit_entry_pending p WHERE p.seq <> ALL (pending_seqs) ORDER BY p.seq LIMIT 1) IS NOT NULL
           OR (SELECT count(*) FROM audit_entry_pending p WHERE p.seq = ANY (pending_seqs)) <> cardinality(pending_seqs) THEN
          RETURN 0;
        END IF;
        moved := audit_chain_pending(pending_seqs, pending_ids, pending_hashes, head_hash, stamped);
        INSERT INTO audit_entry (id, occurred_at, ${COPIED}, prev_hash, hash)
        SELECT r.id, COALESCE(r.occurred_at, s.occurred_at), COALESCE(r.actor_type, s.actor_type), COALESCE(r.actor_id, s.actor_id),
               COALESCE(r.role, s.role), COALESCE(r.partner_id, s.partner_id), COALESCE(r.session_id, s.session_id), COALESCE(r.ip, s.ip),
               COALESCE(r.user_agent, s.user_agent), COALESCE(r.request_id, s.request_id), COALESCE(r.action, s.action),
               COALESCE(r.resource_type, s.resource_type), r.resource_id, r.customer_id, r.fields, COALESCE(r.outcome, s.outcome), r.details,
               COALESCE(lag(r.hash) OVER (ORDER BY r.id), pending_hashes[cardinality(pending_hashes)], head_hash), r.hash
          FROM jsonb_to_recordset(entries) AS r(id bigint, occurred_at timestamptz, actor_type text, actor_id text, role text, partner_id uuid,
                 session_id uuid, ip text, user_agent text, request_id text, action text, resource_type text, resource_id text, customer_id uuid,
                 fields text[], outcome text, details jsonb, hash text),
               jsonb_to_record(shared) AS s(occurred_at timestamptz, actor_type text, actor_id text, role text, partner_id uuid, session_id uuid,
                 ip text, user_agent text, request_id text, action text, resource_type text, outcome text);
        GET DIAGNOSTICS appended = ROW_COUNT;
        RETURN moved + appended;
      END
      $$`);
    await q.query(`REVOKE ALL ON FUNCTION audit_chain_pending(bigint[], bigint[], text[], text, timestamptz) FROM PUBLIC`);
    await q.query(`REVOKE ALL ON FUNCTION audit_chain_pending_onto_head(bigint, bigint, text, bigint[], bigint[], text[], timestamptz, jsonb, jsonb) FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION IF EXISTS audit_chain_pending_onto_head(bigint, bigint, text, bigint[], bigint[], text[], timestamptz, jsonb, jsonb)`);
    await q.query(`DROP FUNCTION IF EXISTS audit_chain_pending(bigint[], bigint[], text[], text, timestamptz)`);
    await new AuditChainPendingOntoHead1764000001900().up(q);
  }
}
