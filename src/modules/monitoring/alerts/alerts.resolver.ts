import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import { requestLoader } from '../../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CustomersService } from '../../customers/customers.service';
import { CustomerModel } from '../../customers/models/customer.model';
import { scopedCustomer } from '../events/events.resolver';
import { AlertActivityModel, AlertConnection, AlertModel, AlertOrder, AlertsFilter, TransitionAlertInput } from '../models/alert.model';
import { EventModel } from '../models/event.model';
import { EventsService } from '../events/events.service';
import { UsersService } from '../../identity/users/users.service';
import { toUserModel } from '../../identity/users/user.mapper';
import { UserModel } from '../../identity/models/user.model';
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
    private readonly events: EventsService,
    private readonly users: UsersService,
  ) {}

  @Policy('read', 'Alert')
  @Query(() => AlertConnection, { description: 'Newest first unless orderBy says otherwise' })
  alerts(
    @Args('filter', { type: () => AlertsFilter, nullable: true }) filter: AlertsFilter,
    @Args('orderBy', { type: () => AlertOrder, nullable: true }) orderBy: AlertOrder,
    @Args() page: PageArgs,
  ): Promise<ConnectionShape<AlertModel>> {
    return this.alertService.list(filter, page, undefined, orderBy);
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

  @Policy('transition', 'Alert')
  @Mutation(() => AlertModel, { description: "A note in any state, encrypted under the customer's key (or the alert's own when it has no customer); audited without its text" })
  addAlertNote(@Args('id', { type: () => ID }) id: string, @Args('note') note: string): Promise<AlertModel> {
    return this.alertService.addNote(id, note);
  }

  @ResolveField(() => [AlertActivityModel], { nullable: true, description: 'Assignments, state changes and notes, oldest first' })
  activity(@Parent() alert: AlertModel): Promise<AlertActivityModel[]> {
    return this.alertService.activity(alert);
  }

  @ResolveField(() => UserModel, { nullable: true })
  assignee(@Parent() alert: AlertModel, @Context() ctx: Ctx): Promise<UserModel | null> {
    if (!alert.assigneeId) return Promise.resolve(null);
    return requestLoader(ctx.req, 'users', () => new DataLoader<string, UserModel | null>(async (ids) => {
      const found = new Map((await this.users.findManyByIds(ids)).map((u) => [u.id, toUserModel(u)]));
      return ids.map((id) => found.get(id) ?? null);
    })).load(alert.assigneeId);
  }

  @ResolveField(() => EventModel, { nullable: true, description: 'The event that opened it (null for SYSTEMIC and SLA_BREACH alerts)' })
  event(@Parent() alert: AlertModel, @Context() ctx: Ctx): Promise<EventModel | null> {
    if (!alert.eventId) return Promise.resolve(null);
    return requestLoader(ctx.req, 'events', () => new DataLoader<string, EventModel | null>((ids) => this.events.getMany(ids))).load(alert.eventId);
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
