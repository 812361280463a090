import { Args, Context, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Policy } from '../../access/policy.decorator';
import { CustomersService } from '../customers/customers.service';
import { CustomerModel } from '../customers/models/customer.model';
import { listOfAtMost } from '../../graphql/query-limits';
import { ComplaintAnalytics, MAX_REPEAT_COMPLAINANTS } from './complaint-analytics.service';
import { complaintCustomer } from './complaints.resolver';
import { ComplaintStatsInput, RepeatComplainantsInput } from './dto/complaint.inputs';
import { ComplaintStatModel, RepeatComplainantModel } from './models/complaint.model';

/** Where complaints pile up (COMPLIANCE_OFFICER): grouped statistics and customers who keep complaining. */
@Resolver(() => RepeatComplainantModel)
export class ComplaintAnalyticsResolver {
  constructor(
    private readonly analytics: ComplaintAnalytics,
    private readonly customers: CustomersService,
  ) {}

  @Policy('read', 'ComplaintStats')
  @Query(() => [ComplaintStatModel], { description: 'Complaints received in [from, to), grouped; keys in ascending order' })
  complaintStats(@Args('input') input: ComplaintStatsInput): Promise<ComplaintStatModel[]> {
    return this.analytics.stats(input);
  }

  @Policy('read', 'ComplaintStats')
  @Query(() => [RepeatComplainantModel], {
    description: 'Customers with at least minComplaints complaints received within the window (most first, at most 100)',
    // No `first`: priced as the most rows it returns, so the customers' nested pages multiply.
    complexity: listOfAtMost(MAX_REPEAT_COMPLAINANTS),
  })
  repeatComplainants(@Args('input') input: RepeatComplainantsInput): Promise<RepeatComplainantModel[]> {
    return this.analytics.repeatComplainants(input);
  }

  @ResolveField(() => CustomerModel, { nullable: true })
  customer(@Parent() row: RepeatComplainantModel, @Context() ctx: { req: object }): Promise<CustomerModel> {
    return complaintCustomer(this.customers, ctx.req, row.customerId);
  }
}
