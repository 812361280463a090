import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { IncomingHttpHeaders } from 'node:http';
import { AUDIT_SINK, type AuditSink } from '../common/audit/audit-sink';
import { headerOf } from '../common/http/headers';
import { RequestContext } from '../common/context/request-context';
import type { Principal } from '../common/context/principal';
import { ForbiddenError, RateLimitedError, UnauthenticatedError } from '../common/errors/app-error';
import { RateLimiter } from '../common/rate-limit/rate-limiter.service';
import { configuredBucket, RATE_LIMITS } from '../common/rate-limit/rate-limits';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { canOnWhole, defineAbilityFor, type AppAbility } from './abilities';
import { ARGUMENT_POLICY, AUTHENTICATED, POLICY, type ArgumentRule, type PolicyMetadata } from './policy.decorator';
import { PRINCIPAL_RESOLVER, type PrincipalResolver } from './principal-resolver';
import { IS_PUBLIC } from './public.decorator';
import { EVENT_METERED_OPERATIONS, SIGN_IN_OPERATIONS } from './operations';
import { chargeOperation, countUnauthenticated, invalidCredentialEntry } from './unauthenticated';
import type { FieldPolicyRequest } from './field-policy';

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);
type AuditInput = Parameters<AuditSink['record']>[0];
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Targets = Array<Function>;
/** An HTTP request (Fastify's), or a subscription socket's stand-in for one. */
type RequestWithPrincipal = FieldPolicyRequest & {
  method?: string;
  url?: string;
  ip?: string;
  headers: IncomingHttpHeaders;
  /** This request's one count against its IP for want of a valid credential: null, or seconds to wait when past the limit. */
  custosUnauthenticated?: Promise<number | null>;
  /** A subscription socket's request: its operations are charged when requested (see chargeOperation). */
  custosChargedAtSubscribe?: boolean;
};

/**
 * The one global guard. For every root operation (each alias counts): resolve the principal once per
 * request, build its CASL ability once, count the operation against the rate limits, then allow only what
 * the operation declares — `@Public()`, `@Authenticated()` or `@Policy()`. No declaration means refused.
 * Field resolvers pass through here cheaply; field rules are enforced by the field policy.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly context: RequestContext,
    private readonly limiter: RateLimiter,
    @Inject(PRINCIPAL_RESOLVER) private readonly principals: PrincipalResolver,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets: Targets = [ctx.getHandler(), ctx.getClass()];
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) ?? false;

    if (ctx.getType<string>() === 'http') {
      const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
      if (isPublic) return true;
      return this.authorize(req, `${req.method} ${pathOf(req)}`, targets, false);
    }
    if (ctx.getType<string>() !== 'graphql') return false;
    const gql = GqlExecutionContext.create(ctx);
    const info = gql.getInfo<{ parentType: { name: string }; fieldName: string }>();
    if (!ROOT_TYPES.has(info.parentType.name)) return true;
    const req = gql.getContext<{ req: RequestWithPrincipal }>().req;
    const allowed = await this.authorize(req, info.fieldName, targets, isPublic);
    const argumentRule = this.reflector.get<ArgumentRule | undefined>(ARGUMENT_POLICY, ctx.getHandler());
    const principal = argumentRule && (await req.custosPrincipal);
    if (allowed && argumentRule && principal) {
      const refusal = argumentRule(principal, gql.getArgs());
      if (refusal) throw refusal;
    }
    return allowed;
  }

  private async authorize(req: RequestWithPrincipal, operation: string, targets: Targets, isPublic: boolean): Promise<boolean> {
    this.context.setClient(req.ip, headerOf(req, 'user-agent'));
    if (isPublic) {
      if (SIGN_IN_OPERATIONS.has(operation)) {
        await this.limiter.consumeOrThrow(configuredBucket(RATE_LIMITS.signInPerIp, this.config.rateLimits.signInPerIp), req.ip ?? 'unknown', 1, (s) => new RateLimitedError(s));
      }
      // A credential on a public operation is used when valid and otherwise ignored (a client refreshing
      // with its expired access token still attached must get its new tokens).
      req.custosPrincipal = this.principalOf(req).catch(async (error: unknown) => {
        // Only a refused credential is ignored; the database being unreachable is not the client's doing.
        if (!(error instanceof UnauthenticatedError)) throw error;
        await this.countUnauthenticated(req, invalidCredentialEntry({ path: pathOf(req) }));
        return undefined;
      });
      await req.custosPrincipal;
      return true;
    }

    let principal: Principal | undefined;
    try {
      principal = await this.principalOf(req);
    } catch (error) {
      // An invalid, expired or revoked credential. Anything else (the database unreachable, say) is not
      // counted against the client's address nor audited as a bad credential.
      if (!(error instanceof UnauthenticatedError)) throw error;
      const wait = await this.countUnauthenticated(req, invalidCredentialEntry({ path: pathOf(req) }));
      throw wait === null ? error : new RateLimitedError(wait);
    }
    if (!principal) {
      // A protected operation called with no credential at all is a denied access too (SPEC §8): one entry
      // per request, naming the first operation, however many aliases it holds.
      const wait = await this.countUnauthenticated(req, { action: 'access.denied', outcome: 'DENIED', resourceType: 'Operation', resourceId: operation, details: { reason: 'UNAUTHENTICATED' } });
      throw wait === null ? new UnauthenticatedError() : new RateLimitedError(wait);
    }
    const ability = this.abilityOf(principal);
    req.custosAbility = ability;

    const refusal = this.refusalOf(principal, ability, targets);
    // An operation metered by what it carries is charged by its service, before any work, once it is allowed;
    // refused here, it is one operation like any other, so refusals cannot go uncounted.
    const metered = principal.kind === 'PARTNER' && EVENT_METERED_OPERATIONS.has(operation) && refusal === undefined;
    if (!req.custosChargedAtSubscribe && !metered) await chargeOperation(this.limiter, this.config.rateLimits, principal);
    if (refusal === undefined) return true;
    return this.deny(operation, refusal);
  }

  /** Why the operation's declaration refuses the principal, or undefined when it allows it. */
  private refusalOf(principal: Principal, ability: AppAbility, targets: Targets): string | undefined {
    const kinds = this.reflector.getAllAndOverride<Array<'USER' | 'PARTNER'>>(AUTHENTICATED, targets);
    if (kinds) return kinds.includes(principal.kind) ? undefined : 'principal kind not allowed';
    const policy = this.reflector.getAllAndOverride<PolicyMetadata>(POLICY, targets);
    if (!policy) return 'no policy declared';
    if (policy.fieldLevel ? ability.can(policy.action, policy.subject) : canOnWhole(ability, policy.action, policy.subject)) return undefined;
    return `${policy.action} ${policy.subject}`;
  }

  /** Counts and audits a request without a valid credential once, however many checks ask (see countUnauthenticated). */
  private countUnauthenticated(req: RequestWithPrincipal, entry: AuditInput): Promise<number | null> {
    req.custosUnauthenticated ??= countUnauthenticated(this.limiter, this.config.rateLimits.unauthenticatedPerIp, req.ip, () => this.audit.record(entry));
    return req.custosUnauthenticated;
  }

  private principalOf(req: RequestWithPrincipal): Promise<Principal | undefined> {
    req.custosPrincipal ??= this.principals
      .resolve(headerOf(req, 'authorization'), { ip: req.ip, userAgent: headerOf(req, 'user-agent') })
      // A credential that is invalid, expired or revoked rejects; callers count and audit it (countUnauthenticated).
      .then((principal) => {
        this.context.principal = principal;
        req.custosPrincipalSettled = principal ?? null;
        return principal;
      });
    return req.custosPrincipal;
  }

  private abilityOf(principal: Principal): AppAbility {
    let ability = this.context.getAbility<AppAbility>();
    if (!ability) {
      ability = defineAbilityFor(principal);
      this.context.setAbility(ability);
    }
    return ability;
  }

  private async deny(operation: string, reason: string): Promise<never> {
    await this.audit.record({ action: 'access.denied', outcome: 'DENIED', resourceType: 'Operation', resourceId: operation, details: { reason } });
    throw new ForbiddenError(`Not allowed to run ${operation}`);
  }
}

/** The request's path without its query string (which may carry PII). */
function pathOf(req: RequestWithPrincipal): string {
  return (req.url ?? '').split('?')[0];
}
