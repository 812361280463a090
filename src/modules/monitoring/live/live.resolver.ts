import { Args, Resolver, Subscription } from '@nestjs/graphql';
import { Authenticated, Policy } from '../../../access/policy.decorator';
import type { FieldPolicyRequest } from '../../../access/field-policy';
import { Role, type Principal } from '../../../common/context/principal';
import { AlertModel, NotificationModel } from '../models/alert.model';
import { Severity } from '../models/monitoring.enums';
import { ALERT_RAISED, LiveUpdates, NOTIFICATION_RECEIVED, type AlertRaisedPayload, type NotificationPayload } from './live-updates.service';

const SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL];
type SubscriptionContext = { req?: FieldPolicyRequest };

async function principalOf(ctx: SubscriptionContext): Promise<Principal | undefined> {
  return ctx.req?.custosPrincipal ? ctx.req.custosPrincipal : undefined;
}

/** Real-time alerts and notifications over graphql-ws; every payload is filtered by the subscriber's rights. */
@Resolver()
export class LiveResolver {
  constructor(private readonly live: LiveUpdates) {}

  @Policy('read', 'Alert')
  @Subscription(() => AlertModel, {
    description: 'Alerts as they are raised, at or above minSeverity, within the subscriber\'s row scope',
    resolve: (payload: AlertRaisedPayload) => payload.alert,
    filter: async (payload: AlertRaisedPayload, variables: { minSeverity?: Severity }, ctx: SubscriptionContext) => {
      const principal = await principalOf(ctx);
      if (principal?.kind !== 'USER') return false;
      if (variables.minSeverity && SEVERITY_ORDER.indexOf(payload.alert.severity) < SEVERITY_ORDER.indexOf(variables.minSeverity)) return false;
      if (principal.role === Role.ACCOUNT_MANAGER) return payload.alert.accountManagerId === principal.userId;
      return ctx.req?.custosAbility?.can('read', 'Alert') ?? false;
    },
  })
  alertRaised(@Args('minSeverity', { type: () => Severity, nullable: true }) _minSeverity?: Severity) {
    return this.live.pubsub.asyncIterableIterator(ALERT_RAISED);
  }

  @Authenticated('USER')
  @Subscription(() => NotificationModel, {
    description: "The subscriber's own notifications as they arrive",
    resolve: (payload: NotificationPayload) => payload.notification,
    filter: async (payload: NotificationPayload, _variables: unknown, ctx: SubscriptionContext) => {
      const principal = await principalOf(ctx);
      return principal?.kind === 'USER' && principal.userId === payload.userId;
    },
  })
  notificationReceived() {
    return this.live.pubsub.asyncIterableIterator(NOTIFICATION_RECEIVED);
  }
}
