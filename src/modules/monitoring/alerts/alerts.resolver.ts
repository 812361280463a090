import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import { requestLoader } from '../../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CustomersService } from '../../customers/customers.service';
import { CustomerModel } from '../../customers/models/customer.model';
import { scopedCustomer } from '../events/events.resolver';
import { AlertConnection, AlertModel, AlertsFilter, TransitionAlertInput } from '../models/alert.model';
import { RuleModel } from '../models/rule.model';
import { RulesService } from '../rules/rules.service';
import { AlertsService } from './alerts.service';

type Ctx = { req: object };

@Resolver(() => AlertModel)
export class AlertsResolver {
  constructor(
    private readonly alertService: AlertsService,
    private readonly rules: RulesService,
    private readonly customers: CustomersService,
  ) {}

  @Policy('read', 'Alert')
  @Query(() => AlertConnection, { description: 'Newest first' })
  alerts(@Args('filter', { type: () => AlertsFilter, nullable: true }) filter: AlertsFilter, @Args() page: PageArgs): Promise<ConnectionShape<AlertModel>> {
    return this.alertService.list(filter, page);
  }

  @Policy('read', 'Alert')
  @Query(() => AlertModel, { nullable: true })
  alert(@Args('id', { type: () => ID }) id: string): Promise<AlertModel> {
    return this.alertService.get(id);
  }

  @Policy('assign', 'Alert')
  @Mutation(() => AlertModel)
  assignAlert(@Args('id', { type: () => ID }) id: string, @Args('assigneeId', { type: () => ID }) assigneeId: string): Promise<AlertModel> {
    return this.alertService.assign(id, assigneeId);
  }

  @Policy('transition', 'Alert')
  @Mutation(() => AlertModel, { description: 'State machine in SPEC §8; closing needs a disposition' })
  transitionAlert(@Args('id', { type: () => ID }) id: string, @Args('input') input: TransitionAlertInput): Promise<AlertModel> {
    return this.alertService.transition(id, input);
  }

  @ResolveField(() => RuleModel, { nullable: true, description: 'The exact rule version that raised it' })
  rule(@Parent() alert: AlertModel, @Context() ctx: Ctx): Promise<RuleModel | null> {
    if (!alert.ruleId) return Promise.resolve(null);
    return requestLoader(ctx.req, 'rules', () => new DataLoader<string, RuleModel | null>((ids) => this.rules.getMany(ids))).load(alert.ruleId);
  }

  @ResolveField(() => CustomerModel, { nullable: true })
  customer(@Parent() alert: AlertModel, @Context() ctx: Ctx): Promise<CustomerModel | null> {
    return scopedCustomer(this.customers, ctx.req, alert.customerId);
  }
}
