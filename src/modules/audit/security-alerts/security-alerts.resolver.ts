import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Inject } from '@nestjs/common';
import { Policy } from '../../../access/policy.decorator';
import { AUDIT_SINK, type AuditSink } from '../../../common/audit/audit-sink';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { SecurityAlertsFilter } from '../dto/audit.inputs';
import type { SecurityAlertEntity } from '../entities/security-alert.entity';
import type { AuditActorType, SecurityAlertKind, SecurityAlertStatus } from '../models/audit.enums';
import { SecurityAlertConnection, SecurityAlertModel } from '../models/security-alert.model';
import { SecurityAlertsService } from './security-alerts.service';

@Resolver(() => SecurityAlertModel)
export class SecurityAlertsResolver {
  constructor(
    private readonly alerts: SecurityAlertsService,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  @Policy('read', 'SecurityAlert')
  @Query(() => SecurityAlertConnection, { description: 'Security alerts, newest first (AUDITOR)' })
  async securityAlerts(
    @Args() page: PageArgs,
    @Args('filter', { type: () => SecurityAlertsFilter, nullable: true }) filter?: SecurityAlertsFilter,
  ): Promise<ConnectionShape<SecurityAlertModel>> {
    const result = await this.alerts.list(filter, page);
    await this.audit.record({ action: 'audit.query', outcome: 'SUCCESS', resourceType: 'SecurityAlert', details: { operation: 'securityAlerts', filter: filter ?? {}, first: page.first, returned: result.nodes.length } });
    return { ...result, nodes: result.nodes.map(toSecurityAlertModel) };
  }

  @Policy('update', 'SecurityAlert')
  @Mutation(() => SecurityAlertModel, { description: 'OPEN → ACKNOWLEDGED' })
  async acknowledgeSecurityAlert(@Args('id', { type: () => ID }) id: string): Promise<SecurityAlertModel> {
    return toSecurityAlertModel(await this.alerts.acknowledge(id));
  }

  @Policy('update', 'SecurityAlert')
  @Mutation(() => SecurityAlertModel, { description: 'OPEN or ACKNOWLEDGED → CLOSED' })
  async closeSecurityAlert(@Args('id', { type: () => ID }) id: string): Promise<SecurityAlertModel> {
    return toSecurityAlertModel(await this.alerts.close(id));
  }
}

function toSecurityAlertModel(a: SecurityAlertEntity): SecurityAlertModel {
  return {
    id: a.id,
    kind: a.kind as SecurityAlertKind,
    actorType: a.actorType as AuditActorType | null,
    actor: a.actorId,
    partner: a.partnerId,
    detail: a.detail,
    status: a.status as SecurityAlertStatus,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}
