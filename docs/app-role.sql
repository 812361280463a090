-- Privileges of the application role (docs/AUDIT.md, "Least-privilege database roles").
-- Run as the owner, in the application's database, after `npm run migration:run`:
--   psql "$OWNER_DATABASE_URL" -v app_role=custos_app -f docs/app-role.sql
-- Run it again after a migration that adds or recreates tables. The role itself is created once, with
--   CREATE ROLE custos_app LOGIN PASSWORD '…' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\set ON_ERROR_STOP on

GRANT CONNECT ON DATABASE :"DBNAME" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- Tables the owner creates later (event partitions, say) get the same, without a re-run.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";

-- The audit log: read and append, nothing else (the triggers are the second line).
REVOKE ALL ON audit_entry, audit_chain_anchor FROM :"app_role";
GRANT SELECT, INSERT ON audit_entry, audit_chain_anchor TO :"app_role";

-- Entries waiting to be chained: written by business transactions; they leave only by entering the log,
-- through the two chaining functions (SECURITY DEFINER), never by a DELETE of the application's.
REVOKE ALL ON audit_entry_pending FROM :"app_role";
GRANT SELECT, INSERT ON audit_entry_pending TO :"app_role";
GRANT EXECUTE ON FUNCTION audit_chain_pending(bigint[], bigint[], text[], text, timestamptz) TO :"app_role";
GRANT EXECUTE ON FUNCTION audit_chain_pending_onto_head(bigint, bigint, text, bigint[], bigint[], text[], timestamptz, jsonb, jsonb) TO :"app_role";

-- The webhook job queue (pg-boss), installed by `npm run migration:run`.
GRANT USAGE ON SCHEMA pgboss TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgboss TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA pgboss TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA pgboss GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";

-- Never: table ownership, TRUNCATE or TRIGGER on audit_entry, DELETE on audit_entry_pending,
-- or SET on session_replication_role (PostgreSQL 15+).
