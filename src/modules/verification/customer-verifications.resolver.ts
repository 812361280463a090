import { Args, Context, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { subject } from '@casl/ability';
import { requestLoader } from '../../common/context/request-loaders';
import { ForbiddenError } from '../../common/errors/app-error';
import { loadBatchedConnections } from '../../common/pagination/batched-connection';
import { PageArgs, type ConnectionShape } from '../../common/pagination/connection';
import { TransactionService } from '../../database/transaction.service';
import { CustomerModel } from '../customers/models/customer.model';
import { VerificationConnection, type VerificationModel } from './models/verification.model';
import { VerificationReader, type VerificationRow } from './verification-reader.service';

/**
 * `Customer.verifications`: the same permission as `customerVerification`, for a customer already in the
 * reader's row scope, newest first, batched across a page of customers (two statements, not two per customer).
 */
@Resolver(() => CustomerModel)
export class CustomerVerificationsResolver {
  constructor(
    private readonly tx: TransactionService,
    private readonly reader: VerificationReader,
  ) {}

  @ResolveField(() => VerificationConnection, { nullable: true, description: 'Newest first; never a code or its digest' })
  verifications(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: { req: object }): Promise<ConnectionShape<VerificationModel>> {
    const ability = this.reader.ability();
    if (!ability.can('read', subject('Verification', { accountManagerId: customer.accountManagerId, onboardedByPartnerId: customer.onboardedByPartnerId }) as never)) {
      throw new ForbiddenError('Not allowed to read verifications');
    }
    const loader = requestLoader(ctx.req, `customerVerifications:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<VerificationModel>>(async (ids) => {
        return loadBatchedConnections<VerificationRow, VerificationModel>(
          this.tx.manager(),
          { table: 'customer_verification', parentColumn: 'customer_id', orderColumn: 'created_at', orderKind: 'timestamptz', direction: 'DESC' },
          ids, page, (r) => this.reader.toModel(r),
        );
      }),
    );
    return loader.load(customer.id);
  }
}
