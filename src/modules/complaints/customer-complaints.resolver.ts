import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { isUUID } from 'class-validator';
import type { AppAbility } from '../../access/abilities';
import { RequestContext } from '../../common/context/request-context';
import { requestLoader } from '../../common/context/request-loaders';
import { ForbiddenError } from '../../common/errors/app-error';
import { loadBatchedConnections } from '../../common/pagination/batched-connection';
import { PageArgs, type ConnectionShape } from '../../common/pagination/connection';
import { TransactionService } from '../../database/transaction.service';
import { CustomerModel } from '../customers/models/customer.model';
import { ComplaintReader, type ComplaintRow } from './complaint-reader.service';
import { ComplaintConnection, type ComplaintModel } from './models/complaint.model';

/**
 * `Customer.complaints`: the same permission as the top-level `complaints` query, for a customer already in
 * the reader's scope — a partner sees only the complaints it filed — batched across a page of customers.
 */
@Resolver(() => CustomerModel)
export class CustomerComplaintsResolver {
  constructor(
    private readonly tx: TransactionService,
    private readonly context: RequestContext,
    private readonly reader: ComplaintReader,
  ) {}

  @ResolveField(() => ComplaintConnection, { nullable: true, description: 'Newest first' })
  complaints(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: { req: object }): Promise<ConnectionShape<ComplaintModel>> {
    const ability = this.context.getAbility<AppAbility>();
    if (!ability?.can('read', 'Complaint')) throw new ForbiddenError('Not allowed to read complaints');
    const principal = this.reader.principal();
    // The partner id comes from the verified principal (a uuid), never from input.
    const where = principal.kind === 'PARTNER' && isUUID(principal.partnerId) ? `filed_by_partner_id = '${principal.partnerId}'` : undefined;
    const loader = requestLoader(ctx.req, `customerComplaints:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<ComplaintModel>>(async (ids) => {
        const pages = await loadBatchedConnections<ComplaintRow>(
          this.tx.manager(),
          { table: 'complaint', parentColumn: 'customer_id', orderColumn: 'received_at', orderKind: 'timestamptz', direction: 'DESC', where },
          ids, page, (r) => new Date(r.received_at).toISOString(),
        );
        const all = [...pages.values()].flatMap((p) => p.nodes);
        const models = new Map((await this.reader.toModels(all)).map((m) => [m.id, m]));
        return ids.map((id) => {
          const p = pages.get(id)!;
          return { ...p, nodes: p.nodes.map((r) => ({ ...models.get(r.id)!, accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId })) };
        });
      }),
    );
    return loader.load(customer.id);
  }
}
