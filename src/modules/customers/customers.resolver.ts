import { Args, Context, ID, Info, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { ArgumentPolicy, Policy } from '../../access/policy.decorator';
import { requestLoader } from '../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../common/pagination/connection';
import { selectedNodeFields } from '../../common/pagination/selected-fields';
import { UserModel } from '../identity/models/user.model';
import { PartnersService } from '../identity/partners/partners.service';
import { toUserModel } from '../identity/users/user.mapper';
import { UsersService } from '../identity/users/users.service';
import { CustomerHistoryService } from './customer-history.service';
import { CustomerRecordsService, customerWriteRefusal } from './customer-records.service';
import { CustomersService } from './customers.service';
import { CreateCustomerInput, CustomerOrder, CustomersFilter, RecordConsentInput, UpdateCustomerInput } from './dto/customer.inputs';
import { ConsentConnection, ConsentModel, CustomerConnection, CustomerModel, ProfileChangeConnection, type ProfileChangeModel } from './models/customer.model';
import { PartnerRef } from './models/partner-ref.model';

type Ctx = { req: object };

@Resolver(() => CustomerModel)
export class CustomersResolver {
  constructor(
    private readonly customerService: CustomersService,
    private readonly records: CustomerRecordsService,
    private readonly history: CustomerHistoryService,
    private readonly userService: UsersService,
    private readonly partnerService: PartnersService,
  ) {}

  @Policy('read', 'Customer', { fieldLevel: true })
  @Query(() => CustomerModel, { nullable: true, description: 'NOT_FOUND for absent and out-of-scope ids alike' })
  customer(@Args('id', { type: () => ID }) id: string): Promise<CustomerModel> {
    return this.customerService.get(id);
  }

  @Policy('read', 'Customer', { fieldLevel: true })
  @Query(() => CustomerConnection)
  customers(
    @Args('filter', { type: () => CustomersFilter, nullable: true }) filter: CustomersFilter,
    @Args('orderBy', { type: () => CustomerOrder, nullable: true }) orderBy: CustomerOrder,
    @Args() page: PageArgs,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ConnectionShape<CustomerModel>> {
    return this.customerService.list(filter, orderBy, page, selectedNodeFields(info));
  }

  @Policy('create', 'Customer')
  @ArgumentPolicy((principal, args) => customerWriteRefusal(principal, 'create', args.input as Record<string, unknown> | undefined))
  @Mutation(() => CustomerModel)
  createCustomer(@Args('input') input: CreateCustomerInput): Promise<CustomerModel> {
    return this.records.create(input);
  }

  @Policy('update', 'Customer')
  @ArgumentPolicy((principal, args) => customerWriteRefusal(principal, 'update', args.input as Record<string, unknown> | undefined))
  @Mutation(() => CustomerModel, { description: 'Limits and accountManagerId: COMPLIANCE_OFFICER only; status changes only through sanctions and erasure' })
  updateCustomer(@Args('id', { type: () => ID }) id: string, @Args('input') input: UpdateCustomerInput): Promise<CustomerModel> {
    return this.records.update(id, input);
  }

  @Policy('erase', 'Customer')
  @Mutation(() => CustomerModel, { description: 'Crypto-shreds the PII; needs step-up' })
  eraseCustomer(@Args('id', { type: () => ID }) id: string, @Args('reason') reason: string): Promise<CustomerModel> {
    return this.records.erase(id, reason);
  }

  @Policy('create', 'Consent')
  @Mutation(() => ConsentModel)
  recordConsent(@Args('input') input: RecordConsentInput): Promise<ConsentModel> {
    return this.records.recordConsent(input);
  }

  @ResolveField(() => UserModel, { nullable: true })
  async accountManager(@Parent() customer: CustomerModel, @Context() ctx: Ctx): Promise<UserModel | null> {
    if (!customer.accountManagerId) return null;
    const loader = requestLoader(ctx.req, 'users', () => new DataLoader<string, UserModel | null>(async (ids) => {
      const users = new Map((await this.userService.findManyByIds(ids)).map((u) => [u.id, toUserModel(u)]));
      return ids.map((id) => users.get(id) ?? null);
    }));
    return loader.load(customer.accountManagerId);
  }

  @ResolveField(() => PartnerRef, { nullable: true })
  async onboardedBy(@Parent() customer: CustomerModel, @Context() ctx: Ctx): Promise<PartnerRef | null> {
    if (!customer.onboardedByPartnerId) return null;
    const loader = requestLoader(ctx.req, 'partnerRefs', () => new DataLoader<string, PartnerRef | null>((ids) => this.partnerService.refs(ids)));
    return loader.load(customer.onboardedByPartnerId);
  }

  @ResolveField(() => ConsentConnection, { nullable: true })
  consents(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<ConsentModel>> {
    return this.history.consents(ctx.req, customer.id, page);
  }

  @ResolveField(() => ProfileChangeConnection, { nullable: true })
  profileChanges(@Parent() customer: CustomerModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<ProfileChangeModel>> {
    return this.history.profileChanges(ctx.req, customer.id, page);
  }
}
