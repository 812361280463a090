import { Args, Context, ID, Mutation, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import type { AppAbility } from '../../../access/abilities';
import { Policy } from '../../../access/policy.decorator';
import { RequestContext } from '../../../common/context/request-context';
import { requestLoader } from '../../../common/context/request-loaders';
import { ForbiddenError } from '../../../common/errors/app-error';
import { CustomerModel } from '../../customers/models/customer.model';
import { LoginLockModel } from './login-lock.model';
import { LoginLocksService } from './login-locks.service';

type Ctx = { req: object };

/**
 * `Customer.loginLock` (readable by whoever may read the customer's alerts, the lock being an alert's
 * consequence) and `liftLoginLock` (those who triage alerts: ANALYST, COMPLIANCE_OFFICER).
 */
@Resolver(() => CustomerModel)
export class LoginLocksResolver {
  constructor(
    private readonly locks: LoginLocksService,
    private readonly context: RequestContext,
  ) {}

  @ResolveField(() => LoginLockModel, { nullable: true, description: 'The login lock a LOCK_LOGIN rule placed, if any (active or not)' })
  loginLock(@Parent() customer: CustomerModel, @Context() ctx: Ctx): Promise<LoginLockModel | null> {
    const ability = this.context.getAbility<AppAbility>();
    // Field-limited rules (a partner's `read Event [id]`, say) grant no read of alerts' consequences.
    if (!ability?.rulesFor('read', 'Alert').some((rule) => !rule.fields && !rule.inverted)) throw new ForbiddenError('Not allowed to read login locks');
    return requestLoader(ctx.req, 'loginLocks', () => new DataLoader<string, LoginLockModel | null>((ids) => this.locks.forCustomers(ids))).load(customer.id);
  }

  @Policy('transition', 'Alert')
  @Mutation(() => LoginLockModel, { description: 'Ends an active login lock now (audited); INVALID_TRANSITION when none is active' })
  liftLoginLock(@Args('customerId', { type: () => ID }) customerId: string): Promise<LoginLockModel> {
    return this.locks.lift(customerId);
  }
}
