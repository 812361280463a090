import { Args, Context, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import { requestLoader } from '../../../common/context/request-loaders';
import { loadBatchedConnections } from '../../../common/pagination/batched-connection';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { TransactionService } from '../../../database/transaction.service';
import { CustomersService } from '../../customers/customers.service';
import { CustomerModel, type RiskFactor, type RiskLevel } from '../../customers/models/customer.model';
import { scopedCustomer } from '../events/events.resolver';
import { CreditAssessmentsService } from './credit-assessments.service';
import { EarlyWarningsService } from './early-warnings.service';
import {
  CreditHistoryConnection, EarlyWarningConnection, EarlyWarningModel, EarlyWarningsFilter, RecordCreditAssessmentInput, RiskHistoryConnection,
  type CreditAssessmentModel, type RiskHistoryEntryModel,
} from './risk.models';

type Ctx = { req: object };
type RiskRow = { id: string; customer_id: string; score: number; level: string; previous_score: number | null; previous_level: string | null; factors: RiskFactor[]; reason: string; computed_at: Date };
type CreditRow = { id: string; customer_id: string; score: number; level: string; credit_limit: string; previous_score: number | null; previous_level: string | null; source: string; recorded_at: Date };

@Resolver(() => EarlyWarningModel)
export class EarlyWarningsResolver {
  constructor(
    private readonly warnings: EarlyWarningsService,
    private readonly customers: CustomersService,
  ) {}

  @Policy('read', 'EarlyWarning')
  @Query(() => EarlyWarningConnection, { description: 'Newest first; an ACCOUNT_MANAGER sees those of the customers they manage' })
  earlyWarnings(@Args('filter', { type: () => EarlyWarningsFilter, nullable: true }) filter: EarlyWarningsFilter, @Args() page: PageArgs): Promise<ConnectionShape<EarlyWarningModel>> {
    return this.warnings.list(filter, page);
  }

  @ResolveField(() => CustomerModel, { nullable: true })
  customer(@Parent() warning: EarlyWarningModel, @Context() ctx: Ctx): Promise<CustomerModel | null> {
    return scopedCustomer(this.customers, ctx.req, warning.customerId);
  }
}

/**
 * `recordCreditAssessment`, and `Customer.riskHistory` / `Customer.creditHistory` (newest first, batched
 * across a page of customers). The histories need no check of their own: the customer field policy
 * treats them like `riskScore` and `creditScore` (abilities.ts RISK and CREDIT lists).
 */
@Resolver(() => CustomerModel)
export class CustomerRiskResolver {
  constructor(
    private readonly tx: TransactionService,
    private readonly credit: CreditAssessmentsService,
  ) {}

  @Policy('create', 'CreditAssessment')
  @Mutation(() => CustomerModel, { description: 'Credit score (300–850), level and limit of a customer; may raise CREDIT_DETERIORATION and changes the risk score' })
  recordCreditAssessment(@Args('input') input: RecordCreditAssessmentInput): Promise<CustomerModel> {
    return this.credit.record(input);
  }

  @ResolveField(() => RiskHistoryConnection, { nullable: true, description: 'Changes of riskScore or riskLevel, newest first (follows riskScore permissions)' })
  riskHistory(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<RiskHistoryEntryModel>> {
    const loader = requestLoader(ctx.req, `riskHistory:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<RiskHistoryEntryModel>>(async (ids) => {
        return loadBatchedConnections<RiskRow, RiskHistoryEntryModel>(
          this.tx.manager(), { table: 'customer_risk_history', parentColumn: 'customer_id', orderColumn: 'computed_at', orderKind: 'timestamptz', direction: 'DESC' }, ids, page,
          (r) => ({
            id: r.id, score: r.score, level: r.level as RiskLevel, previousScore: r.previous_score, previousLevel: r.previous_level as RiskLevel | null,
            factors: r.factors ?? [], reason: r.reason, computedAt: r.computed_at,
          }),
        );
      }),
    );
    return loader.load(customer.id);
  }

  @ResolveField(() => CreditHistoryConnection, { nullable: true, description: 'Credit assessments, newest first (follows creditScore permissions)' })
  creditHistory(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<CreditAssessmentModel>> {
    const loader = requestLoader(ctx.req, `creditHistory:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<CreditAssessmentModel>>(async (ids) => {
        return loadBatchedConnections<CreditRow, CreditAssessmentModel>(
          this.tx.manager(), { table: 'customer_credit_history', parentColumn: 'customer_id', orderColumn: 'recorded_at', orderKind: 'timestamptz', direction: 'DESC' }, ids, page,
          (r) => ({
            id: r.id, score: r.score, level: r.level as RiskLevel, limit: String(r.credit_limit), previousScore: r.previous_score, previousLevel: r.previous_level as RiskLevel | null,
            source: r.source, recordedAt: r.recorded_at,
          }),
        );
      }),
    );
    return loader.load(customer.id);
  }
}
