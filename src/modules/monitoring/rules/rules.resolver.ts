import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Policy } from '../../../access/policy.decorator';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CreateRuleInput, RuleConnection, RuleModel, RulesFilter, UpdateRuleInput } from '../models/rule.model';
import { RulesService } from './rules.service';

@Resolver(() => RuleModel)
export class RulesResolver {
  constructor(private readonly ruleService: RulesService) {}

  @Policy('read', 'Rule')
  @Query(() => RuleConnection)
  rules(@Args('filter', { type: () => RulesFilter, nullable: true }) filter: RulesFilter, @Args() page: PageArgs): Promise<ConnectionShape<RuleModel>> {
    return this.ruleService.list(filter, page);
  }

  @Policy('read', 'Rule')
  @Query(() => RuleModel, { nullable: true })
  rule(@Args('id', { type: () => ID }) id: string): Promise<RuleModel> {
    return this.ruleService.get(id);
  }

  @Policy('create', 'Rule')
  @Mutation(() => RuleModel, { description: 'Creates version 1 as a DRAFT; the condition is validated (BAD_USER_INPUT names the bad node)' })
  createRule(@Args('input') input: CreateRuleInput): Promise<RuleModel> {
    return this.ruleService.create(input);
  }

  @Policy('update', 'Rule')
  @Mutation(() => RuleModel, { description: 'Edits a DRAFT in place; an ACTIVE or RETIRED rule gets a new DRAFT version' })
  updateRule(@Args('id', { type: () => ID }) id: string, @Args('input') input: UpdateRuleInput): Promise<RuleModel> {
    return this.ruleService.update(id, input);
  }

  @Policy('activate', 'Rule')
  @Mutation(() => RuleModel, { description: 'Retires the active version of the same code' })
  activateRule(@Args('id', { type: () => ID }) id: string): Promise<RuleModel> {
    return this.ruleService.activate(id);
  }

  @Policy('retire', 'Rule')
  @Mutation(() => RuleModel)
  retireRule(@Args('id', { type: () => ID }) id: string): Promise<RuleModel> {
    return this.ruleService.retire(id);
  }
}
