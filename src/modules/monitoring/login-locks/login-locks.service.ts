import { Inject, Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { RequestContext } from '../../../common/context/request-context';
import { BadUserInputError, InvalidTransitionError, NotFoundError } from '../../../common/errors/app-error';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService } from '../../customers/customers.service';
import type { LoginLockModel } from './login-lock.model';

type Row = { customer_id: string; locked_since: Date; locked_until: Date; rule_id: string | null; lifted_at: Date | null; lifted_by: string | null; active: boolean };
const toModel = (r: Row): LoginLockModel => ({ customerId: r.customer_id, lockedSince: r.locked_since, lockedUntil: r.locked_until, active: r.active, ruleId: r.rule_id, liftedAt: r.lifted_at, liftedById: r.lifted_by });
const COLUMNS = `customer_id, locked_since, locked_until, rule_id, lifted_at, lifted_by, (lifted_at IS NULL AND locked_until > now()) AS active`;

/** Reading and lifting the login locks that LOCK_LOGIN rules place (SPEC §8: "an analyst may lift it"). */
@Injectable()
export class LoginLocksService {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly customers: CustomersService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /** Batched for `Customer.loginLock`: the lock row of each customer, or null when none was ever placed. */
  async forCustomers(ids: readonly string[]): Promise<Array<LoginLockModel | null>> {
    const rows = (await this.tx.manager().query(`SELECT ${COLUMNS} FROM login_lock WHERE customer_id = ANY($1::uuid[])`, [ids])) as Row[];
    const byId = new Map(rows.map((r) => [r.customer_id, toModel(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** Ends an active lock at once; the customer must be in the caller's scope. Audited; LOCKED → LIFTED once. */
  async lift(customerId: string): Promise<LoginLockModel> {
    if (!isUUID(customerId)) throw BadUserInputError.field('customerId', 'is not a valid id');
    const [customer] = await this.customers.getMany([customerId]);
    if (!customer) throw new NotFoundError('Customer');
    const actor = this.context.requireStaff();
    return this.tx.run(async (manager) => {
      const [rows] = (await manager.query(
        `UPDATE login_lock SET lifted_at = now(), lifted_by = $2 WHERE customer_id = $1 AND lifted_at IS NULL AND locked_until > now() RETURNING ${COLUMNS}`,
        [customerId, actor.userId],
      )) as [Row[], number];
      if (!rows.length) {
        const [current] = (await manager.query(`SELECT ${COLUMNS} FROM login_lock WHERE customer_id = $1`, [customerId])) as Row[];
        throw new InvalidTransitionError('Login lock', !current ? 'NONE' : current.lifted_at ? 'LIFTED' : 'EXPIRED', 'LIFTED');
      }
      await this.audit.record({ action: 'login_lock.lift', outcome: 'SUCCESS', resourceType: 'LoginLock', resourceId: customerId, customerId, details: { lockedUntil: rows[0].locked_until.toISOString(), ruleId: rows[0].rule_id } });
      return toModel(rows[0]);
    });
  }
}
