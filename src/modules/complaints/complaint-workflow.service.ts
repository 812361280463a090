import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { Role, type Principal } from '../../common/context/principal';
import { BadUserInputError, ForbiddenError, InvalidTransitionError } from '../../common/errors/app-error';
import { TransactionService } from '../../database/transaction.service';
import { CustomersService, type CustomerSnapshot } from '../customers/customers.service';
import { UsersService } from '../identity/users/users.service';
import { EarlyWarningsService } from '../monitoring/risk/early-warnings.service';
import { ComplaintChanges } from './complaint-changes.service';
import { complaintAad, ComplaintReader, type ComplaintRow } from './complaint-reader.service';
import { ComplaintSlaJob } from './complaint-sla.service';
import { canMoveComplaint, FEEDBACK_STATUSES } from './complaint-transitions';
import { COMPLAINT_TEXT, type RecordComplaintFeedbackInput, type ResolveComplaintInput } from './dto/complaint.inputs';
import { ComplaintActivityKind, ComplaintStatus, Remedy } from './models/complaint.enums';
import type { ComplaintModel } from './models/complaint.model';

/** Remedies that pay money need an amount; the others must not carry one. */
const PAID = new Set<Remedy>([Remedy.REFUND, Remedy.COMPENSATION]);
const UNPAID = new Set<Remedy>([Remedy.APOLOGY, Remedy.NONE]);
const ASSIGNABLE = new Set<Role>([Role.AGENT, Role.COMPLIANCE_OFFICER, Role.ACCOUNT_MANAGER]);
/** Assigning and notes: any state but CLOSED (SPEC §8). */
const NOT_CLOSED: readonly ComplaintStatus[] = Object.values(ComplaintStatus).filter((s) => s !== ComplaintStatus.CLOSED);

type Column = 'acknowledged_at' | 'resolved_at' | 'closed_at' | 'resolution_summary' | 'remedy' | 'remedy_amount' | 'assignee_id' | 'satisfaction' | 'feedback_comment' | 'feedback_at' | 'reopen_count';

interface Move {
  kind: ComplaintActivityKind;
  action: string;
  /** The state moved to; absent for changes that keep the state (assign, note, feedback). */
  to?: ComplaintStatus;
  /** For a change that keeps the state: the states it is allowed in (every state but CLOSED unless given). */
  in?: readonly ComplaintStatus[];
  /** Column values to set (whitelisted names; values bound as parameters). */
  set?: (customer: CustomerSnapshot, row: ComplaintRow) => Partial<Record<Column, unknown>>;
  note?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * The investigation workflow (SPEC §8 state table). Staff who may handle the complaint move it; a partner
 * may only record the customer's feedback on complaints it filed. Each change — the row update, its
 * timeline entry, the audit entry and the partner's webhook — is one transaction; a move of state is guarded
 * by the state it was read in, so two concurrent moves cannot both succeed; a change that keeps the state by
 * the states it is allowed in. A deadline reached late is escalated in the same transaction.
 */
@Injectable()
export class ComplaintWorkflow {
  constructor(
    private readonly tx: TransactionService,
    private readonly reader: ComplaintReader,
    private readonly customers: CustomersService,
    private readonly users: UsersService,
    private readonly changes: ComplaintChanges,
    private readonly warnings: EarlyWarningsService,
    private readonly sla: ComplaintSlaJob,
  ) {}

  acknowledge(id: string): Promise<ComplaintModel> {
    return this.staffMove(id, { kind: ComplaintActivityKind.ACKNOWLEDGED, action: 'complaint.acknowledge', to: ComplaintStatus.ACKNOWLEDGED, set: () => ({ acknowledged_at: new Date() }) });
  }

  startInvestigation(id: string): Promise<ComplaintModel> {
    return this.staffMove(id, { kind: ComplaintActivityKind.INVESTIGATION_STARTED, action: 'complaint.start_investigation', to: ComplaintStatus.INVESTIGATING });
  }

  resolve(id: string, input: ResolveComplaintInput): Promise<ComplaintModel> {
    const amount = input.amount ?? null;
    return this.staffMove(
      id,
      {
        kind: ComplaintActivityKind.RESOLVED, action: 'complaint.resolve', to: ComplaintStatus.RESOLVED, note: input.summary,
        detail: { remedy: input.remedy, amount },
        set: (customer, row) => ({
          resolved_at: new Date(), remedy: input.remedy, remedy_amount: amount,
          resolution_summary: this.changes.seal(customer, complaintAad('resolution_summary', row.id), input.summary),
        }),
      },
      () => {
        if (amount !== null && Number(amount) < 0) throw BadUserInputError.field('amount', 'must not be negative');
        if (PAID.has(input.remedy) && amount === null) throw BadUserInputError.field('amount', `is required for ${input.remedy}`);
        if (UNPAID.has(input.remedy) && amount !== null) throw BadUserInputError.field('amount', `must be empty for ${input.remedy}`);
      },
    );
  }

  reopen(id: string, reason: string): Promise<ComplaintModel> {
    const text = typeof reason === 'string' ? reason.trim() : '';
    return this.staffMove(
      id,
      {
        kind: ComplaintActivityKind.REOPENED, action: 'complaint.reopen', to: ComplaintStatus.REOPENED, note: text,
        // The earlier resolution stays on the timeline (its RESOLVED entry); the complaint is unresolved again.
        set: (_c, row) => ({ resolved_at: null, resolution_summary: null, remedy: null, remedy_amount: null, reopen_count: row.reopen_count + 1 }),
      },
      () => {
        if (!text || text.length > COMPLAINT_TEXT.reason) throw BadUserInputError.field('reason', `must be 1–${COMPLAINT_TEXT.reason} characters`);
      },
    );
  }

  close(id: string): Promise<ComplaintModel> {
    return this.staffMove(id, { kind: ComplaintActivityKind.CLOSED, action: 'complaint.close', to: ComplaintStatus.CLOSED, set: () => ({ closed_at: new Date() }) });
  }

  async assign(id: string, assigneeId: string): Promise<ComplaintModel> {
    return this.staffMove(
      id,
      { kind: ComplaintActivityKind.ASSIGNED, action: 'complaint.assign', detail: { assigneeId }, set: () => ({ assignee_id: assigneeId }) },
      () => {
        if (typeof assigneeId !== 'string' || !isUUID(assigneeId)) throw BadUserInputError.field('assigneeId', 'is not a valid id');
      },
      async (row) => {
        const [user] = await this.users.findManyByIds([assigneeId]);
        const fits = user && !user.disabledAt && ASSIGNABLE.has(user.role) && (user.role !== Role.ACCOUNT_MANAGER || user.id === row.account_manager_id);
        if (!fits) throw BadUserInputError.field('assigneeId', 'must be an active AGENT or COMPLIANCE_OFFICER, or the customer\'s ACCOUNT_MANAGER');
      },
    );
  }

  addNote(id: string, note: string): Promise<ComplaintModel> {
    const text = typeof note === 'string' ? note.trim() : '';
    return this.staffMove(id, { kind: ComplaintActivityKind.NOTE_ADDED, action: 'complaint.note', note: text }, () => {
      if (!text || text.length > COMPLAINT_TEXT.note) throw BadUserInputError.field('note', `must be 1–${COMPLAINT_TEXT.note} characters`);
    });
  }

  /**
   * The customer's verdict (1–5) on a resolved or closed complaint, by staff who handle it or by the partner
   * that filed it; a score at or below the threshold raises the customer's LOW_SATISFACTION early warning.
   */
  async recordFeedback(id: string, input: RecordComplaintFeedbackInput): Promise<ComplaintModel> {
    const principal = this.reader.principal();
    const row = await this.reader.row(id);
    this.assertHandler(principal, row, true);
    if (!FEEDBACK_STATUSES.includes(row.status)) throw new InvalidTransitionError('Complaint', row.status, 'FEEDBACK_RECORDED');
    return this.apply(principal, row, {
      kind: ComplaintActivityKind.FEEDBACK_RECORDED, action: 'complaint.feedback', in: FEEDBACK_STATUSES, note: input.comment ?? null, detail: { satisfaction: input.satisfaction },
      set: (customer) => ({
        satisfaction: input.satisfaction, feedback_at: new Date(),
        feedback_comment: input.comment ? this.changes.seal(customer, complaintAad('feedback_comment', row.id), input.comment) : null,
      }),
    }, async (manager) => {
      await this.warnings.recordSatisfaction(row.customer_id, input.satisfaction, { complaintId: row.id }, manager);
    });
  }

  /** Who may change this complaint: staff who handle complaints in its scope; partners only the feedback on what they filed. */
  private assertHandler(principal: Principal, row: ComplaintRow, feedback: boolean): void {
    if (principal.kind === 'PARTNER') {
      const scoped = principal.scopes.includes('complaints:write') && row.filed_by_partner_id === principal.partnerId;
      if (!feedback || !scoped) throw new ForbiddenError('A partner may only record feedback on complaints it filed');
      return;
    }
    const ability = this.customers.ability();
    if (!ability.can('handle', { __caslSubjectType__: 'Complaint', accountManagerId: row.account_manager_id } as never)) throw new ForbiddenError('Not allowed to handle this complaint');
  }

  private async staffMove(id: string, move: Move, validate?: () => void, check?: (row: ComplaintRow) => Promise<void>): Promise<ComplaintModel> {
    const principal = this.reader.principal();
    const row = await this.reader.row(id);
    this.assertHandler(principal, row, false);
    // Authorisation first, then the input, then the state machine.
    validate?.();
    if (move.to && !canMoveComplaint(row.status, move.to)) throw new InvalidTransitionError('Complaint', row.status, move.to);
    if (!move.to && row.status === ComplaintStatus.CLOSED) throw new InvalidTransitionError('Complaint', row.status, move.kind);
    await check?.(row);
    return this.apply(principal, row, move);
  }

  private async apply(principal: Principal, row: ComplaintRow, move: Move, also?: (manager: EntityManager) => Promise<void>): Promise<ComplaintModel> {
    return this.tx.run(async (manager) => {
      const [customer] = await this.customers.snapshots([row.customer_id], []);
      const values = move.set?.(customer, row) ?? {};
      // A move of state is guarded by the state it was read in, so two concurrent moves cannot both win. A
      // change that keeps the state (assign, note, feedback) is guarded by the states it is allowed in
      // instead: a concurrent move between two of them must not fail it, and it records the state it found.
      const params: unknown[] = [row.id, move.to ? [row.status] : (move.in ?? NOT_CLOSED), move.to ?? null];
      const assignments = Object.entries(values).map(([column, value]) => `${column} = $${params.push(value instanceof Date ? value.toISOString() : value)}`);
      const updated = (await manager.query(
        `UPDATE complaint SET status = coalesce($3, status), ${[...assignments, 'updated_at = now()'].join(', ')} WHERE id = $1 AND status = ANY($2::text[]) RETURNING status`,
        params,
      )) as [Array<{ status: ComplaintStatus }>, number];
      // Someone moved it since it was read: report the state it is in now.
      if (updated[1] !== 1) {
        const [now] = (await manager.query(`SELECT status FROM complaint WHERE id = $1`, [row.id])) as Array<{ status: string }>;
        throw new InvalidTransitionError('Complaint', now?.status ?? row.status, move.to ?? move.kind);
      }
      const from = move.to ? row.status : updated[0][0].status;
      await also?.(manager);
      await this.changes.record(manager, {
        complaint: { ...row, status: from }, customer, kind: move.kind, actor: principal, from, to: move.to ?? from,
        note: move.note ?? null, detail: move.detail, action: move.action,
      });
      // Reached after its deadline, with no sweep in between to report it: escalated now.
      if (move.to === ComplaintStatus.ACKNOWLEDGED || move.to === ComplaintStatus.RESOLVED) await this.sla.escalateLate(manager, row.id, new Date());
      return this.reader.get(row.id);
    });
  }
}
