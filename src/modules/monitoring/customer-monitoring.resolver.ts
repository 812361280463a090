import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { canOnWhole, type AppAbility } from '../../access/abilities';
import { RequestContext } from '../../common/context/request-context';
import { requestLoader } from '../../common/context/request-loaders';
import { ForbiddenError } from '../../common/errors/app-error';
import { loadBatchedConnections } from '../../common/pagination/batched-connection';
import { PageArgs, type ConnectionShape } from '../../common/pagination/connection';
import { TransactionService } from '../../database/transaction.service';
import { CustomerModel } from '../customers/models/customer.model';
import { toAlertModel } from './alerts/alerts.service';
import { toEventModel, type EventRow } from './events/event-row';
import { AlertConnection, type AlertModel } from './models/alert.model';
import { EventConnection, type EventModel } from './models/event.model';

type Ctx = { req: object };

/**
 * `Customer.alerts` and `Customer.events`: the same permission as the top-level `alerts`/`events` queries,
 * for a customer already in the reader's scope, batched across a page of customers (no N+1).
 */
@Resolver(() => CustomerModel)
export class CustomerMonitoringResolver {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
  ) {}

  private require(subject: 'Alert' | 'Event'): void {
    const ability = this.context.getAbility<AppAbility>();
    if (!ability || !canOnWhole(ability, 'read', subject)) throw new ForbiddenError(`Not allowed to read ${subject.toLowerCase()}s`);
  }

  @ResolveField(() => AlertConnection, { nullable: true, description: 'Newest first' })
  alerts(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<AlertModel>> {
    this.require('Alert');
    const loader = requestLoader(ctx.req, `customerAlerts:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<AlertModel>>(async (ids) => {
        return loadBatchedConnections<Parameters<typeof toAlertModel>[0], AlertModel>(
          this.tx.manager(), { table: 'alert', parentColumn: 'customer_id', orderColumn: 'created_at', orderKind: 'timestamptz', direction: 'DESC' }, ids, page,
          (r) => toAlertModel(r),
        );
      }),
    );
    return loader.load(customer.id);
  }

  @ResolveField(() => EventConnection, { nullable: true, description: 'Newest first' })
  events(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<EventModel>> {
    this.require('Event');
    const loader = requestLoader(ctx.req, `customerEvents:${page.first}:${page.after}`, () =>
      // Keyed by customer, carrying each one's account manager: the events' row scope reads it per parent.
      new DataLoader<{ id: string; accountManagerId: string | null }, ConnectionShape<EventModel>, string>(
        async (parents) => {
          return loadBatchedConnections<EventRow & { id: string }, EventModel>(
            this.tx.manager(), { table: 'event', parentColumn: 'customer_id', orderColumn: 'occurred_at', orderKind: 'timestamptz', direction: 'DESC' }, parents.map((c) => c.id), page,
            (r, i) => ({ ...toEventModel({ ...r, amount: r.amount === null ? null : String(r.amount) }), accountManagerId: parents[i].accountManagerId }),
          );
        },
        { cacheKeyFn: (c) => c.id },
      ),
    );
    return loader.load({ id: customer.id, accountManagerId: customer.accountManagerId ?? null });
  }
}
