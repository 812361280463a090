import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema, type ValidationRule } from 'graphql';
import type { AppAbility } from '../access/abilities';
import type { AuditSink } from '../common/audit/audit-sink';
import type { IncomingMessage } from 'node:http';
import { headerOf } from '../common/http/headers';
import type { ClsService } from 'nestjs-cls';
import type { RequestContext } from '../common/context/request-context';
import type { Context } from 'graphql-ws';
import { defineAbilityFor } from '../access/abilities';
import type { FieldPolicyRequest } from '../access/field-policy';
import type { PrincipalResolver } from '../access/principal-resolver';
import type { Principal } from '../common/context/principal';
import { ForbiddenError, QueryTooComplexError, RateLimitedError, UnauthenticatedError } from '../common/errors/app-error';
import type { AppConfig } from '../config/config';
import { ErrorCode } from '../common/errors/error-codes';
import type { RateLimiter } from '../common/rate-limit/rate-limiter.service';
import { chargeOperation, countUnauthenticated, invalidCredentialEntry } from '../access/unauthenticated';
import { isLimitError, limitErrorMessage } from './format-error';
import { assertCostWithinLimit, MAX_TOKENS } from './query-limits';
import { holderOf, type LiveSockets } from './live-sockets';
import { asSubscriber, inSocketContext, rootFields, subscribeAsSubscriber, type SocketRequest, type SocketState } from './subscriber-context';

/** A validation error without graphql-js's " Did you mean …?" (which leaks the schema when introspection is off). */
function withoutSuggestion(error: GraphQLError): GraphQLError {
  const message = error.message.replace(/ Did you mean [\s\S]*\?$/, '');
  return message === error.message ? error : new GraphQLError(message, { nodes: error.nodes, extensions: error.extensions });
}

/** How often a live socket re-checks that its session or token is still valid. */
export const SOCKET_RECHECK_MS = 15_000;

type Extra = { socket: { readyState?: number; close(code: number, reason: string): void; once?(event: string, cb: () => void): void }; request: IncomingMessage };
/** ws's readyState of an open socket. */
const SOCKET_OPEN = 1;
/** setTimeout's longest delay; a credential valid for longer is left to the periodic re-check. */
const MAX_TIMER_MS = 2_147_483_647;

function authorizationOf(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

/**
 * graphql-ws (`graphql-transport-ws`) on the same path as HTTP. The subscriber authenticates in
 * `connection_init` ({"authorization": "Bearer …"}); no valid credential closes the socket with 4401 before
 * any subscription. The same validation rules (depth, aliases, directives) as HTTP apply to every
 * subscription document. The socket closes with 4401 once the session is revoked or the token expires.
 */
/**
 * Who may open each subscription, checked when it is requested so a refusal is an `error` message (never a
 * `next` carrying errors). The resolvers' own @Policy/@Authenticated declarations stay as a second check.
 */
const SUBSCRIPTION_RULES: Record<string, (principal: Principal, ability: AppAbility) => boolean> = {
  alertRaised: (principal, ability) => principal.kind === 'USER' && ability.can('read', 'Alert'),
  notificationReceived: (principal) => principal.kind === 'USER',
};

export interface SubscriptionDeps {
  audit: AuditSink;
  /** The served schema (field policies applied), for pricing a subscription document. */
  schema: () => GraphQLSchema;
  maxCost: number;
  /** Production: validation errors carry no field suggestions. */
  hideSuggestions: boolean;
  principals: PrincipalResolver;
  validationRules: ValidationRule[];
  flushFieldAudit: (req: FieldPolicyRequest) => Promise<void>;
  cls: ClsService;
  context: RequestContext;
  /** Counts connection attempts without a valid credential per client address, as HTTP requests are. */
  limiter: RateLimiter;
  /**
   * The configured limits: per client address for connection attempts without a valid credential (shared with
   * HTTP), and per principal for operations, charged once per subscription requested over a socket.
   */
  rateLimits: AppConfig['rateLimits'];
  /** The client's address as HTTP reads it (TRUST_PROXY applied to X-Forwarded-For). */
  clientIp: (request: IncomingMessage) => string | undefined;
  /** This instance's open sockets (capped per user or partner: GRAPHQL_MAX_SOCKETS_PER_PRINCIPAL) and live subscriptions. */
  sockets: LiveSockets;
}

/** The subscriptions served, each with who may open it. */
export const SUBSCRIPTION_FIELDS = Object.keys(SUBSCRIPTION_RULES);

/**
 * A connection attempt without a valid credential, treated as an HTTP request without one (countUnauthenticated):
 * counted against the client's address and, under the limit, audited (`auth.invalid_credential` for a refused
 * credential, `access.denied` UNAUTHENTICATED for none), in a request context of its own (a fresh request id,
 * the address, no principal). Closes with 4401, or 4429 past the limit.
 */
async function refuseConnection(deps: SubscriptionDeps, ctx: Context<Record<string, unknown>, Extra>, client: { ip?: string; userAgent?: string }, credentialGiven: boolean): Promise<void> {
  const entry = credentialGiven
    ? invalidCredentialEntry({ path: '/graphql', transport: 'websocket' })
    : { action: 'access.denied', outcome: 'DENIED' as const, resourceType: 'Subscription', details: { reason: 'UNAUTHENTICATED', transport: 'websocket' } };
  try {
    const wait = await countUnauthenticated(deps.limiter, deps.rateLimits.unauthenticatedPerIp, client.ip, () =>
      inSocketContext(deps, client, () => deps.audit.record(entry)),
    );
    ctx.extra.socket.close(wait === null ? 4401 : 4429, wait === null ? 'Unauthorized' : 'Too many requests');
  } catch {
    // The limiter or the audit log failed: a server error to retry, not a verdict on the credential.
    ctx.extra.socket.close(4500, 'Credential check failed; reconnect');
  }
}

/** The resolver refusing the credential (invalid, expired, revoked, suspended), as opposed to failing to look it up. */
function isCredentialRefusal(error: unknown): boolean {
  return error instanceof UnauthenticatedError || error instanceof ForbiddenError;
}

/** What a principal's ability is built from: its role, or its trust level and effective scopes. */
function grantsOf(p: Principal): string {
  return p.kind === 'USER' ? `USER:${p.role}` : `PARTNER:${p.trustLevel}:${[...p.scopes].sort().join(',')}`;
}

export function subscriptionOptions(deps: SubscriptionDeps) {
  const { principals, validationRules, flushFieldAudit, sockets } = deps;
  return {
    'graphql-ws': {
      path: '/graphql',
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx: Context<Record<string, unknown>, Extra & SocketState>) => {
        const authorization = authorizationOf(ctx.connectionParams);
        const client = { ip: deps.clientIp(ctx.extra.request), userAgent: headerOf(ctx.extra.request, 'user-agent') };
        let principal: Principal | undefined;
        try {
          principal = await inSocketContext(deps, client, () => principals.resolve(authorization, client));
        } catch (error) {
          // The look-up failed, not the credential: a server error to retry, not 4401 (sign in again).
          if (!isCredentialRefusal(error)) {
            ctx.extra.socket.close(4500, 'Credential check failed; reconnect');
            return false;
          }
          principal = undefined;
        }
        if (!principal) {
          await refuseConnection(deps, ctx, client, authorization !== undefined);
          return false;
        }
        // The client may have gone while its credential was looked up: graphql-ws has then run onClose
        // already, and timers started now would never be cleared.
        if (ctx.extra.socket.readyState !== undefined && ctx.extra.socket.readyState !== SOCKET_OPEN) return false;
        const holder = holderOf(principal);
        if (!sockets.admit(holder)) {
          ctx.extra.socket.close(4429, 'Too many open sockets');
          return false;
        }
        // Counted from here (nothing awaits before the socket is acknowledged) until onClose.
        ctx.extra.custosHolder = holder;
        /**
         * `periodic`: the timer's check between payloads. A look-up that failed (the database unreachable, the
         * pool exhausted) says nothing about the credential: the timer leaves the socket open and tries again
         * at its next tick; before a payload or a new subscription, nothing may leave unchecked, so the socket
         * closes with 4500 — a server error to reconnect after, not 4401, which tells a client to sign in again.
         */
        const recheck = async (periodic = false): Promise<boolean> => {
          let still: Principal | undefined;
          try {
            still = await inSocketContext(deps, client, () => principals.resolve(authorization, client));
          } catch (error) {
            if (!isCredentialRefusal(error)) {
              if (periodic) return true;
              ctx.extra.socket.close(4500, 'Credential check failed; reconnect');
              return false;
            }
            still = undefined;
          }
          if (!still) {
            ctx.extra.socket.close(4401, 'Session ended');
            return false;
          }
          // The socket's ability was built at connect: a role or scope change ends it (the client reconnects
          // under the new grants), as the next HTTP request runs under them.
          if (grantsOf(still) !== grantsOf(principal)) {
            ctx.extra.socket.close(4403, 'Permissions changed');
            return false;
          }
          return true;
        };
        ctx.extra.custosReq = {
          custosPrincipal: Promise.resolve(principal),
          custosAbility: defineAbilityFor(principal),
          ip: client.ip,
          url: '/graphql',
          headers: client.userAgent === undefined ? {} : { 'user-agent': client.userAgent },
          custosRecheck: recheck,
          custosChargedAtSubscribe: true,
        };
        // Between payloads too, so a quiet socket does not outlive its session.
        const timer = setInterval(() => void recheck(true), SOCKET_RECHECK_MS);
        timer.unref();
        ctx.extra.custosTimer = timer;
        // The periodic re-check catches revocation; expiry is known now, so the socket closes on the dot.
        const remaining = principal.validUntil ? principal.validUntil.getTime() - Date.now() : undefined;
        if (remaining !== undefined && remaining <= MAX_TIMER_MS) {
          const expiry = setTimeout(() => ctx.extra.socket.close(4401, 'Token expired'), Math.max(0, remaining));
          expiry.unref();
          ctx.extra.custosExpiry = expiry;
        }
        return true;
      },
      onSubscribe: async (ctx: Context<Record<string, unknown>, SocketState>, _id: string, payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null }) => {
        const req = ctx.extra.custosReq;
        const principal = req?.custosPrincipal ? await req.custosPrincipal : undefined;
        // A new subscription on an open socket: under the credential as it is now (the socket closes if not).
        if (req?.custosRecheck && !(await req.custosRecheck())) {
          return [new GraphQLError('Invalid, expired or revoked credentials', { extensions: { code: ErrorCode.UNAUTHENTICATED } })];
        }
        // Counted as an operation, as over HTTP, but here: refused by the access guard as it starts, a
        // RATE_LIMITED would reach the client as a `next` carrying errors.
        if (principal) {
          try {
            await chargeOperation(deps.limiter, deps.rateLimits, principal);
          } catch (error) {
            if (error instanceof RateLimitedError) return [error];
            throw error;
          }
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: MAX_TOKENS });
        } catch (error) {
          // The token limit, as over HTTP; other parse errors are reported by graphql-ws itself.
          if (error instanceof GraphQLError && /token limit/i.test(error.message)) return [new GraphQLError(`Token limit of ${MAX_TOKENS} exceeded`, { extensions: { code: 'QUERY_TOO_COMPLEX' } })];
          return undefined;
        }
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return undefined; // so is a missing operation
        // Queries and mutations go over HTTP, where the once-per-request sign-in rule, the cost limit and the
        // per-IP counters apply; the socket serves subscriptions only.
        if (operation.operation !== 'subscription') {
          return [new GraphQLError(`Only subscriptions are served over WebSocket; send a ${operation.operation} over HTTP`, { extensions: { code: 'BAD_REQUEST' } })];
        }
        const refused = rootFields(operation, document).filter((f) => !principal || !req?.custosAbility || !(SUBSCRIPTION_RULES[f]?.(principal, req.custosAbility) ?? false));
        if (refused.length) {
          const entry = { action: 'access.denied', outcome: 'DENIED' as const, resourceType: 'Subscription', resourceId: refused.join(',') };
          // Under the subscriber's context: the entry names the user or partner, the address and the user agent.
          await (req ? asSubscriber(deps, req, () => deps.audit.record(entry)) : deps.audit.record(entry));
          return refused.map((f) => new GraphQLError(`Not allowed to subscribe to ${f}`, { extensions: { code: 'FORBIDDEN' } }));
        }
        // Every pushed payload resolves the selection again: priced as over HTTP, before the first one.
        try {
          assertCostWithinLimit(deps.schema(), document, payload.variables ?? undefined, payload.operationName ?? undefined, deps.maxCost);
        } catch (error) {
          if (error instanceof QueryTooComplexError) return [new GraphQLError(error.message, { extensions: { code: error.code } })];
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return undefined;
      },
      // Full-value PII reads in a pushed payload are audited before that payload leaves, as over HTTP: they
      // were collected on the payload's own request (see payloadRequest), anything else on the socket's.
      onNext: async (ctx: Context<Record<string, unknown>, SocketState>, _id: string, _payload: unknown, args: ExecutionArgs) => {
        const socket = ctx.extra.custosReq;
        if (!socket) return;
        const payload = (args.contextValue as { req?: SocketRequest } | undefined)?.req;
        await asSubscriber(deps, socket, async () => {
          if (payload && payload !== socket) await flushFieldAudit(payload);
          await flushFieldAudit(socket);
        });
      },
      onClose: (ctx: Context<Record<string, unknown>, SocketState>) => {
        if (ctx.extra.custosTimer) clearInterval(ctx.extra.custosTimer);
        if (ctx.extra.custosExpiry) clearTimeout(ctx.extra.custosExpiry);
        const holder = ctx.extra.custosHolder;
        if (holder !== undefined) {
          ctx.extra.custosHolder = undefined;
          sockets.release(holder);
        }
      },
      // In production no "Did you mean …?": the socket validates outside Apollo, whose plugins strip them over HTTP.
      // Likewise a document past a limit gets one QUERY_TOO_COMPLEX error, however many limits or nodes it broke
      // (over HTTP the error formatter and singleLimitErrorPlugin see to it).
      validate: (schema: GraphQLSchema, document: DocumentNode) => {
        const errors = validate(schema, document, [...specifiedRules, ...validationRules]);
        const limit = errors.find((e) => isLimitError(e));
        if (limit) return [new GraphQLError(limitErrorMessage(limit.message), { extensions: { code: ErrorCode.QUERY_TOO_COMPLEX } })];
        return deps.hideSuggestions ? errors.map(withoutSuggestion) : errors;
      },
      subscribe: subscribeAsSubscriber(deps),
    },
  };
}
