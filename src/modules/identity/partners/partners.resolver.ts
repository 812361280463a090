import { Args, Context, ID, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import { requestLoader } from '../../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CreatePartnerInput, IssuePartnerTokenInput, RecordPartnerAssessmentInput, UpdatePartnerInput } from '../dto/identity.inputs';
import { IssuedPartnerToken, Partner, PartnerConnection, PartnerToken, PartnerTokenConnection } from '../models/partner.model';
import { PartnerTokensService } from './partner-tokens.service';
import { PartnersService } from './partners.service';

@Resolver(() => Partner)
export class PartnersResolver {
  constructor(
    private readonly partnerService: PartnersService,
    private readonly tokenService: PartnerTokensService,
  ) {}

  @Policy('manage', 'Partner')
  @Query(() => PartnerConnection)
  partners(@Args() page: PageArgs): Promise<ConnectionShape<Partner>> {
    return this.partnerService.list(page);
  }

  @Policy('manage', 'Partner')
  @Query(() => Partner, { nullable: true })
  partner(@Args('id', { type: () => ID }) id: string): Promise<Partner> {
    return this.partnerService.get(id);
  }

  @Policy('manage', 'Partner')
  @Mutation(() => Partner)
  createPartner(@Args('input') input: CreatePartnerInput): Promise<Partner> {
    return this.partnerService.create(input);
  }

  @Policy('manage', 'Partner')
  @Mutation(() => Partner)
  updatePartner(@Args('id', { type: () => ID }) id: string, @Args('input') input: UpdatePartnerInput): Promise<Partner> {
    return this.partnerService.update(id, input);
  }

  @Policy('manage', 'Partner')
  @Mutation(() => Partner, { description: 'FAIL suspends the partner' })
  recordPartnerAssessment(@Args('input') input: RecordPartnerAssessmentInput): Promise<Partner> {
    return this.partnerService.recordAssessment(input);
  }

  @Policy('manage', 'PartnerToken')
  @Mutation(() => IssuedPartnerToken, { description: 'The token is shown once' })
  issuePartnerToken(@Args('input') input: IssuePartnerTokenInput): Promise<IssuedPartnerToken> {
    return this.tokenService.issue(input);
  }

  @Policy('manage', 'PartnerToken')
  @Mutation(() => PartnerToken)
  revokePartnerToken(@Args('id', { type: () => ID }) id: string): Promise<PartnerToken> {
    return this.tokenService.revoke(id);
  }

  @ResolveField(() => PartnerTokenConnection)
  tokens(@Parent() partner: Partner, @Args() page: PageArgs, @Context() ctx: { req: object }): Promise<ConnectionShape<PartnerToken>> {
    // One statement for a page of partners, whatever its size.
    const loader = requestLoader(ctx.req, `partnerTokens:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<PartnerToken>>((ids) => this.tokenService.listForMany(ids, page)),
    );
    return loader.load(partner.id);
  }
}
