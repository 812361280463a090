import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { packRules } from '@casl/ability/extra';
import type { AppAbility } from '../../../access/abilities';
import { Authenticated, Policy } from '../../../access/policy.decorator';
import { RequestContext } from '../../../common/context/request-context';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CreateUserInput, UpdateUserInput, UsersFilter } from '../dto/identity.inputs';
import type { UserEntity } from '../entities/user.entity';
import { UserConnection, UserModel } from '../models/user.model';
import { toUserModel } from './user.mapper';
import { UsersService } from './users.service';

@Resolver(() => UserModel)
export class UsersResolver {
  constructor(
    private readonly userService: UsersService,
    private readonly context: RequestContext,
  ) {}

  @Authenticated('USER')
  @Query(() => UserModel, { description: 'The signed-in staff user, with `permissions`' })
  async me(): Promise<UserModel> {
    const user = await this.userService.findById(this.context.requireStaff().userId);
    const ability = this.context.getAbility<AppAbility>();
    return { ...toUserModel(user), permissions: ability ? packRules(ability.rules) : [] };
  }

  @Policy('read', 'User')
  @Query(() => UserModel, { nullable: true })
  async user(@Args('id', { type: () => ID }) id: string): Promise<UserModel> {
    return this.view(await this.userService.findById(id));
  }

  @Policy('manage', 'User')
  @Query(() => UserConnection)
  async users(
    @Args('filter', { type: () => UsersFilter, nullable: true }) filter: UsersFilter,
    @Args() page: PageArgs,
  ): Promise<ConnectionShape<UserModel>> {
    const result = await this.userService.list(filter, page);
    return { ...result, nodes: result.nodes.map((u) => this.view(u)) };
  }

  @Policy('manage', 'User')
  @Mutation(() => UserModel)
  async createUser(@Args('input') input: CreateUserInput): Promise<UserModel> {
    return this.view(await this.userService.create(input));
  }

  @Policy('manage', 'User')
  @Mutation(() => UserModel)
  async updateUser(@Args('id', { type: () => ID }) id: string, @Args('input') input: UpdateUserInput): Promise<UserModel> {
    return this.view(await this.userService.update(this.context.requireStaff(), id, input));
  }

  @Policy('manage', 'User')
  @Mutation(() => UserModel, { description: 'Clears TOTP and recovery codes and ends the sessions; the user enrolls again' })
  async resetUserMfa(@Args('id', { type: () => ID }) id: string): Promise<UserModel> {
    return this.view(await this.userService.resetMfa(id));
  }

  @Policy('manage', 'User')
  @Mutation(() => UserModel, { description: 'The user must replace it at next sign-in; sessions end' })
  async resetUserPassword(@Args('id', { type: () => ID }) id: string, @Args('newPassword') newPassword: string): Promise<UserModel> {
    return this.view(await this.userService.resetPassword(id, newPassword));
  }

  /** Field visibility (email for ADMIN and self only, partners id only) is applied by the field policy. */
  private view(user: UserEntity): UserModel {
    return toUserModel(user);
  }
}
