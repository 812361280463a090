import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A login lock kept only its end, and the start was taken as end − 30 minutes. Once a later burst extended
 * the lock, a LOGIN back-filled into the first part of the span (between the first lock and the extension)
 * was screened as unlocked. `locked_since` keeps the start of the lock's continuous span: an overlapping
 * lock extends the span at either end, a later disjoint one starts a new span. Existing locks get the start
 * their end implied.
 */
export class LoginLockSince1764000002200 implements MigrationInterface {
  name = 'LoginLockSince1764000002200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE login_lock ADD COLUMN locked_since timestamptz(3)`);
    await q.query(`UPDATE login_lock SET locked_since = locked_until - interval '30 minutes'`);
    await q.query(`ALTER TABLE login_lock ALTER COLUMN locked_since SET NOT NULL, ADD CONSTRAINT login_lock_span CHECK (locked_since < locked_until)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE login_lock DROP CONSTRAINT login_lock_span, DROP COLUMN locked_since`);
  }
}
