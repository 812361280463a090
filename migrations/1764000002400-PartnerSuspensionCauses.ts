import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A partner kept one `suspended_reason`: a FAIL assessment overwrote an ADMIN's `MANUAL` suspension, and the
 * next PASS then lifted a suspension no ADMIN had lifted. The two causes are now held apart, the partner is
 * suspended while either holds, and `suspended_at` (what token checks and webhooks read) stays set exactly
 * then. Existing rows keep the one cause they recorded; a manual suspension already overwritten by a FAIL
 * cannot be told apart and comes out as the assessment's.
 */
export class PartnerSuspensionCauses1764000002400 implements MigrationInterface {
  name = 'PartnerSuspensionCauses1764000002400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE partner ADD COLUMN suspended_manually boolean NOT NULL DEFAULT false,
                           ADD COLUMN suspended_by_assessment boolean NOT NULL DEFAULT false`,
    );
    await q.query(
      `UPDATE partner SET suspended_by_assessment = (suspended_reason = 'ASSESSMENT_FAILED'),
                          suspended_manually = (suspended_reason IS DISTINCT FROM 'ASSESSMENT_FAILED')
        WHERE suspended_at IS NOT NULL`,
    );
    await q.query(
      `ALTER TABLE partner ADD CONSTRAINT partner_suspension_causes CHECK ((suspended_at IS NOT NULL) = (suspended_manually OR suspended_by_assessment)),
                           DROP COLUMN suspended_reason`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE partner ADD COLUMN suspended_reason text`);
    await q.query(
      `UPDATE partner SET suspended_reason = CASE WHEN suspended_by_assessment THEN 'ASSESSMENT_FAILED' ELSE 'MANUAL' END
        WHERE suspended_at IS NOT NULL`,
    );
    await q.query(
      `ALTER TABLE partner DROP CONSTRAINT partner_suspension_causes, DROP COLUMN suspended_manually, DROP COLUMN suspended_by_assessment`,
    );
  }
}
