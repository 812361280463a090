import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import type { AppError } from '../../../common/errors/app-error';
import { NotFoundError } from '../../../common/errors/app-error';
import { requestLoader } from '../../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CustomersService } from '../../customers/customers.service';
import { CustomerModel } from '../../customers/models/customer.model';
import { EventConnection, EventInput, EventModel, HoldActionModel } from '../models/event.model';
import { EventResultModel } from '../models/event-result.model';
import { EventOrder, EventsFilter, ResolveHoldInput } from './events.inputs';
import { EventsService } from './events.service';
import { IngestService, MAX_EVENTS_PER_CALL } from './ingest.service';

type Ctx = { req: object };

/** Resolves `customer` on any monitoring type through the customers' own scope and field policy. */
export function scopedCustomer(customers: CustomersService, req: object, customerId: string | null): Promise<CustomerModel | null> {
  if (!customerId) return Promise.resolve(null);
  const loader = requestLoader(req, 'scopedCustomers', () => new DataLoader<string, CustomerModel | null>((ids) => customers.getMany(ids)));
  return loader.load(customerId).then((c) => {
    if (!c) throw new NotFoundError('Customer');
    return c;
  });
}

@Resolver(() => EventModel)
export class EventsResolver {
  constructor(
    private readonly ingestService: IngestService,
    private readonly eventService: EventsService,
    private readonly customers: CustomersService,
  ) {}

  @Policy('ingest', 'Event')
  @Mutation(() => [EventResultModel], {
    nullable: 'items',
    description: `At most ${MAX_EVENTS_PER_CALL} events, screened in array order; a bad event is null at its index with an error whose path ends with that index`,
    // A batch's results are priced at a tenth each (a result holds its few alerts and rules), but never below
    // one whole result: a single event asking for nested pages pays for them in full.
    complexity: ({ args, childComplexity }) => {
      const perResult = Math.max(1, childComplexity);
      return 1 + Math.max(perResult, (Math.max(1, Array.isArray(args.events) ? args.events.length : 1) * perResult) / 10);
    },
  })
  ingestEvents(@Args('events', { type: () => [EventInput] }) events: EventInput[]): Promise<Array<EventResultModel | AppError>> {
    return this.ingestService.ingest(events);
  }

  @Policy('read', 'Event')
  @Query(() => EventConnection)
  events(
    @Args('filter', { type: () => EventsFilter, nullable: true }) filter: EventsFilter,
    @Args('orderBy', { type: () => EventOrder, nullable: true }) orderBy: EventOrder,
    @Args() page: PageArgs,
  ): Promise<ConnectionShape<EventModel>> {
    return this.eventService.list(filter, orderBy, page);
  }

  @Policy('read', 'Event')
  @Query(() => EventModel, { nullable: true })
  event(@Args('id', { type: () => ID }) id: string): Promise<EventModel> {
    return this.eventService.get(id);
  }

  @Policy('resolve', 'Hold')
  @Mutation(() => EventModel, { description: 'Releases or rejects a held transaction, once' })
  resolveHold(@Args('eventId', { type: () => ID }) eventId: string, @Args('input') input: ResolveHoldInput): Promise<EventModel> {
    return this.eventService.resolveHold(eventId, input);
  }

  @ResolveField(() => CustomerModel, { nullable: true })
  customer(@Parent() event: EventModel, @Context() ctx: Ctx): Promise<CustomerModel | null> {
    return scopedCustomer(this.customers, ctx.req, event.customerId);
  }

  @ResolveField(() => [HoldActionModel], { nullable: true, description: 'PLACED, then RELEASED or REJECTED' })
  holdHistory(@Parent() event: EventModel, @Context() ctx: Ctx): Promise<HoldActionModel[]> {
    // One statement for a page of events (the hold queue asks for every event's history).
    return requestLoader(ctx.req, 'holdHistories', () => new DataLoader<string, HoldActionModel[]>((ids) => this.eventService.holdHistories(ids))).load(event.id);
  }
}
