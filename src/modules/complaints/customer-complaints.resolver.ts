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
    type Parent = Pick<CustomerModel, 'id' | 'accountManagerId' | 'onboardedByPartnerId'>;
    const loader = requestLoader(ctx.req, `customerComplaints:${page.first}:${page.after}`, () =>
      // Keyed by customer, carrying each one's scope columns: the complaints' row scope reads them per parent
      // (the complaint rows do not hold them).
      new DataLoader<Parent, ConnectionShape<ComplaintModel>, string>(
        async (parents) => {
          const pages = await loadBatchedConnections<ComplaintRow, ComplaintRow>(
            this.tx.manager(),
            { table: 'complaint', parentColumn: 'customer_id', orderColumn: 'received_at', orderKind: 'timestamptz', direction: 'DESC', where },
            parents.map((c) => c.id), page, (r) => r,
          );
          // Decrypted together: one key look-up for every customer of the batch.
          const models = new Map((await this.reader.toModels(pages.flatMap((p) => p.nodes))).map((m) => [m.id, m]));
          return pages.map((p, i) => ({
            ...p,
            nodes: p.nodes.map((r) => ({ ...models.get(r.id)!, accountManagerId: parents[i].accountManagerId, onboardedByPartnerId: parents[i].onboardedByPartnerId })),
          }));
        },
        { cacheKeyFn: (c) => c.id },
      ),
    );
    return loader.load({ id: customer.id, accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId });
  }
}
