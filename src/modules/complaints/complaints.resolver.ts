import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../access/policy.decorator';
import { requestLoader } from '../../common/context/request-loaders';
import { NotFoundError } from '../../common/errors/app-error';
import { PageArgs, type ConnectionShape } from '../../common/pagination/connection';
import { CustomersService } from '../customers/customers.service';
import { CustomerModel } from '../customers/models/customer.model';
import { ComplaintIntake } from './complaint-intake.service';
import { ComplaintReader } from './complaint-reader.service';
import { ComplaintWorkflow } from './complaint-workflow.service';
import { ComplaintOrder, ComplaintsFilter, FileComplaintInput, RecordComplaintFeedbackInput, ResolveComplaintInput } from './dto/complaint.inputs';
import { ComplaintConnection, ComplaintModel, ComplaintTimelineEntryModel } from './models/complaint.model';

type Ctx = { req: object };

/** `Complaint.customer` and `RepeatComplainant.customer`: like `customer(id)` for this principal (out of scope → null with NOT_FOUND). */
export function complaintCustomer(customers: CustomersService, req: object, customerId: string): Promise<CustomerModel> {
  const loader = requestLoader(req, 'scopedCustomers', () => new DataLoader<string, CustomerModel | null>((ids) => customers.getMany(ids)));
  return loader.load(customerId).then((c) => {
    if (!c) throw new NotFoundError('Customer');
    return c;
  });
}

/** Complaints: intake, the investigation workflow and reads. Rules live in the services. */
@Resolver(() => ComplaintModel)
export class ComplaintsResolver {
  constructor(
    private readonly reader: ComplaintReader,
    private readonly intake: ComplaintIntake,
    private readonly workflow: ComplaintWorkflow,
    private readonly customers: CustomersService,
  ) {}

  @Policy('read', 'Complaint')
  @Query(() => ComplaintConnection, { description: 'Newest first by default; within the principal\'s row scope' })
  complaints(
    @Args('filter', { type: () => ComplaintsFilter, nullable: true }) filter: ComplaintsFilter,
    @Args('orderBy', { type: () => ComplaintOrder, nullable: true }) orderBy: ComplaintOrder,
    @Args() page: PageArgs,
  ): Promise<ConnectionShape<ComplaintModel>> {
    return this.reader.list(filter, orderBy, page);
  }

  @Policy('read', 'Complaint')
  @Query(() => ComplaintModel, { nullable: true })
  complaint(@Args('id', { type: () => ID }) id: string): Promise<ComplaintModel> {
    return this.reader.get(id);
  }

  @Policy('file', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'SLA deadlines follow the severity; a FRAUD_REPORT also becomes a COMPLAINT event' })
  fileComplaint(@Args('input') input: FileComplaintInput): Promise<ComplaintModel> {
    return this.intake.file(input);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'RECEIVED → ACKNOWLEDGED' })
  acknowledgeComplaint(@Args('id', { type: () => ID }) id: string): Promise<ComplaintModel> {
    return this.workflow.acknowledge(id);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'Any state but CLOSED; an active AGENT, COMPLIANCE_OFFICER or the customer\'s ACCOUNT_MANAGER' })
  assignComplaint(@Args('id', { type: () => ID }) id: string, @Args('assigneeId', { type: () => ID }) assigneeId: string): Promise<ComplaintModel> {
    return this.workflow.assign(id, assigneeId);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'ACKNOWLEDGED or REOPENED → INVESTIGATING' })
  startInvestigation(@Args('id', { type: () => ID }) id: string): Promise<ComplaintModel> {
    return this.workflow.startInvestigation(id);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'Any state but CLOSED; the note is encrypted under the customer\'s key' })
  addComplaintNote(@Args('id', { type: () => ID }) id: string, @Args('note') note: string): Promise<ComplaintModel> {
    return this.workflow.addNote(id, note);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'INVESTIGATING → RESOLVED; REFUND and COMPENSATION need an amount' })
  resolveComplaint(@Args('id', { type: () => ID }) id: string, @Args('input') input: ResolveComplaintInput): Promise<ComplaintModel> {
    return this.workflow.resolve(id, input);
  }

  @Policy('feedback', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'On a RESOLVED or CLOSED complaint, by staff or by the partner that filed it (complaints:write)' })
  recordComplaintFeedback(@Args('id', { type: () => ID }) id: string, @Args('input') input: RecordComplaintFeedbackInput): Promise<ComplaintModel> {
    return this.workflow.recordFeedback(id, input);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'RESOLVED → REOPENED' })
  reopenComplaint(@Args('id', { type: () => ID }) id: string, @Args('reason') reason: string): Promise<ComplaintModel> {
    return this.workflow.reopen(id, reason);
  }

  @Policy('handle', 'Complaint')
  @Mutation(() => ComplaintModel, { description: 'RESOLVED → CLOSED' })
  closeComplaint(@Args('id', { type: () => ID }) id: string): Promise<ComplaintModel> {
    return this.workflow.close(id);
  }

  @ResolveField(() => [ComplaintTimelineEntryModel], { description: 'Every change, oldest first' })
  timeline(@Parent() complaint: ComplaintModel, @Context() ctx: Ctx): Promise<ComplaintTimelineEntryModel[]> {
    const loader = requestLoader(ctx.req, 'complaintTimelines', () =>
      new DataLoader<string, ComplaintTimelineEntryModel[]>(async (ids) => {
        const timelines = await this.reader.timelines(ids);
        return ids.map((id) => timelines.get(id) ?? []);
      }),
    );
    return loader.load(complaint.id);
  }

  @ResolveField(() => CustomerModel, { nullable: true })
  customer(@Parent() complaint: ComplaintModel, @Context() ctx: Ctx): Promise<CustomerModel> {
    return complaintCustomer(this.customers, ctx.req, complaint.customerId);
  }
}
