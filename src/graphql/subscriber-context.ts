import { randomUUID } from 'node:crypto';
import { getOperationAST, Kind, subscribe, type DocumentNode, type ExecutionArgs, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionNode } from 'graphql';
import { CLS_ID, type ClsService } from 'nestjs-cls';
import type { FieldPolicyRequest } from '../access/field-policy';
import type { RequestContext } from '../common/context/request-context';
import type { LiveSockets } from './live-sockets';

/*
 * Who a subscription runs as. graphql-ws calls its hooks outside any HTTP request, so each hook and each
 * pushed payload gets a request context of its own here: a request id, the socket's client, and the
 * subscriber's principal and ability (./subscriptions.ts authenticates the socket and admits subscriptions).
 */

/**
 * `custosRecheck` (the socket's request only): whether the credential the socket opened with still holds with
 * the same grants, closing the socket (4401, or 4403 for changed grants) when it does not.
 */
export type SocketRequest = FieldPolicyRequest & { ip?: string; url: string; headers: { 'user-agent'?: string }; custosRecheck?: () => Promise<boolean>; custosChargedAtSubscribe?: boolean };
export type SocketState = { custosReq?: SocketRequest; custosTimer?: NodeJS.Timeout; custosExpiry?: NodeJS.Timeout; custosHolder?: string };

/** What running work as a subscriber needs of the subscription set-up. */
export interface SubscriberContextDeps {
  cls: ClsService;
  context: RequestContext;
  /** Counts live subscriptions by root field. */
  sockets: LiveSockets;
}

/**
 * The root fields an operation selects, through fragment spreads and inline fragments (a client may well
 * write `subscription { ...Live }`). A spread of a fragment the document lacks names itself, and is refused.
 */
export function rootFields(operation: OperationDefinitionNode, document: DocumentNode): string[] {
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const fields: string[] = [];
  const seen = new Set<string>();
  const walk = (selections: readonly SelectionNode[]) => {
    for (const s of selections) {
      if (s.kind === Kind.FIELD) fields.push(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet.selections);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) walk(fragment.selectionSet.selections);
        else fields.push(`...${s.name.value}`);
      }
    }
  };
  walk(operation.selectionSet.selections);
  return fields;
}

/**
 * Runs `work` in a request context of its own, as an HTTP request gets: a fresh request id and the socket's
 * client address and user agent, so audit entries written on the socket carry them (SPEC §5), and the partner
 * token's network check sees the address. graphql-ws calls its hooks outside any HTTP request context.
 */
export function inSocketContext<T>(deps: SubscriberContextDeps, client: { ip?: string; userAgent?: string }, work: () => Promise<T>): Promise<T> {
  return deps.cls.run(() => {
    deps.cls.set(CLS_ID, randomUUID());
    deps.context.setClient(client.ip, client.userAgent);
    return work();
  });
}

/** Runs `work` in a fresh request context of the socket carrying the subscriber's principal and ability. */
export async function asSubscriber<T>(deps: SubscriberContextDeps, req: SocketRequest, work: () => Promise<T>): Promise<T> {
  const principal = req.custosPrincipal ? await req.custosPrincipal : undefined;
  return inSocketContext(deps, { ip: req.ip, userAgent: req.headers['user-agent'] }, () => {
    deps.context.principal = principal;
    deps.context.setAbility(req.custosAbility);
    return work();
  });
}

/**
 * The request one pushed payload resolves with: the socket's principal and ability in an object of its own,
 * so what is kept per request — DataLoaders (`requestLoader`), collected PII reads — lives for this payload
 * only. On the socket-wide request, loaders would serve rows read for an earlier payload (a customer since
 * updated or erased, decrypted PII included) for as long as the token lives, and be shared by every
 * subscription of the socket.
 */
function payloadRequest(socket: SocketRequest): SocketRequest {
  const { custosPrincipal, custosAbility, ip, url, headers } = socket;
  return { custosPrincipal, custosAbility, ip, url, headers };
}

/**
 * Each pushed payload is resolved inside a request context of the *subscriber* (principal, ability): without
 * it, services would see the context of whoever published the event.
 */
export function subscribeAsSubscriber(deps: SubscriberContextDeps) {
  return async (args: ExecutionArgs) => {
    const result = await subscribe(args);
    if (!(Symbol.asyncIterator in Object(result))) return result;
    // One root field per subscription (graphql-js validates it); live until the iterator ends, however it ends.
    const operation = getOperationAST(args.document, args.operationName);
    const ended = deps.sockets.subscriptionStarted((operation && rootFields(operation, args.document)[0]) ?? 'unknown');
    const context = args.contextValue as { req?: SocketRequest };
    const req = context.req;
    const inner = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]() as AsyncIterator<unknown>;
    const inContext = <T>(work: () => Promise<T>): Promise<T> => (req ? asSubscriber(deps, req, work) : work());
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      // graphql-js resolves the payload with this context object; graphql-ws asks for the next payload only
      // once this one has been sent (and `onNext` has flushed its audit), so one request per payload is safe.
      next: async () => {
        if (req) context.req = payloadRequest(req);
        const result = await inContext(() => inner.next());
        // A payload leaves only under a credential that still holds now: a logout, a revoked session or
        // token, a disabled user or changed grants end the socket before the next payload, not at the next
        // periodic re-check.
        if (!result.done && req?.custosRecheck && !(await req.custosRecheck())) {
          ended();
          await inner.return?.();
          return { done: true, value: undefined };
        }
        if (result.done) ended();
        return result;
      },
      return: () => {
        ended();
        return inner.return ? inner.return() : Promise.resolve({ done: true, value: undefined });
      },
      throw: (e: unknown) => {
        ended();
        return inner.throw ? inner.throw(e) : Promise.reject(e);
      },
    };
  };
}

/** GraphQL context for HTTP requests and for subscriptions alike: resolvers and the guard see a `req`. */
export function graphqlContext(arg: { req?: unknown; res?: unknown; extra?: SocketState }): { req: unknown; res?: unknown } {
  if (arg.req) return { req: arg.req, res: arg.res };
  return { req: arg.extra?.custosReq };
}
