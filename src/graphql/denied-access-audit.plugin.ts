import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLError, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { FieldPolicyRequest } from '../access/field-policy';
import { BATCH_ITEMS_NOT_FOUND, type AuditSink, type AuditRecord } from '../common/audit/audit-sink';
import type { RequestContext } from '../common/context/request-context';
import { ONCE_PER_REQUEST_OPERATIONS } from '../access/operations';
import { ServiceUnavailableError } from '../common/errors/app-error';
import { ErrorCode } from '../common/errors/error-codes';
import { loggableError } from '../common/logging/logging';

/** Where an entry that could not be appended is reported. */
export interface AuditFailureLogger {
  error(fields: object, message: string): void;
}

/**
 * Appends the entry of a request that already failed or was refused. When the database cannot take it (the
 * same outage the request's own error reports, usually), the entry is logged instead: the client keeps its
 * retryable SERVICE_UNAVAILABLE rather than an HTTP 500 that replaces it, and nothing was written or served
 * for the entry to vouch for. The log line carries what the entry would have (codes and paths, no values).
 * Any other failure still fails the request.
 */
async function appendOrLog(entry: AuditRecord, logger: AuditFailureLogger, requestId: string | undefined, append: (entry: AuditRecord) => Promise<unknown>): Promise<void> {
  try {
    await append(entry);
  } catch (error) {
    const reason = ServiceUnavailableError.reasonOf(error);
    if (!reason) throw error;
    logger.error({ audit: { action: entry.action, outcome: entry.outcome, resourceId: entry.resourceId ?? null, details: entry.details, requestId: requestId ?? null }, reason, err: loggableError(error) }, 'audit entry not written: the database is unavailable');
  }
}

/** Refusals that count as denied access (SPEC §5: FORBIDDEN, NOT_FOUND on scoped rows, STEP_UP_REQUIRED). */
const REFUSALS: ReadonlySet<string> = new Set([ErrorCode.FORBIDDEN, ErrorCode.STEP_UP_REQUIRED, ErrorCode.NOT_FOUND]);

/** Root fields that take a batch and answer each item on its own: an error at `[field, index]` is one item's. */
const BATCH_OPERATIONS: ReadonlySet<string> = new Set(['ingestEvents']);

/**
 * The field (not its alias) that answers `responseKey` at the operation's root, looking through inline
 * fragments and fragment spreads; undefined when not found.
 */
function rootFieldOf(
  selectionSet: SelectionSetNode | undefined,
  responseKey: string,
  document?: DocumentNode,
  seen: Set<string> = new Set(),
): string | undefined {
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD && (selection.alias ?? selection.name).value === responseKey) return selection.name.value;
    let inner: SelectionSetNode | undefined;
    if (selection.kind === Kind.INLINE_FRAGMENT) inner = selection.selectionSet;
    else if (selection.kind === Kind.FRAGMENT_SPREAD && !seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      inner = document?.definitions.find(
        (d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
      )?.selectionSet;
    }
    const found = inner && rootFieldOf(inner, responseKey, document, seen);
    if (found) return found;
  }
  return undefined;
}

/**
 * The root field an error belongs to, by name: an alias (`login: eraseCustomer(…)`) must not pass for the
 * operation it spells, neither in what the entry names nor in which operations record their own outcomes.
 */
function rootFieldOfError(error: GraphQLError, operation: OperationDefinitionNode | undefined, document: DocumentNode | undefined): string | null {
  const key = error.path?.[0];
  if (key === undefined) return null;
  return rootFieldOf(operation?.selectionSet, String(key), document) ?? String(key);
}

/**
 * A NOT_FOUND for one item of a batch: an event naming a customer that is absent or out of the partner's scope
 * (the API answers both alike). The item is rejected and the call goes on; the caller did not reach for a row.
 */
function isBatchItemNotFound(error: GraphQLError, operation: OperationDefinitionNode | undefined, document: DocumentNode | undefined): boolean {
  const path = error.path;
  if (error.extensions?.code !== ErrorCode.NOT_FOUND || path?.length !== 2 || typeof path[1] !== 'number') return false;
  const field = rootFieldOf(operation?.selectionSet, String(path[0]), document);
  return field !== undefined && BATCH_OPERATIONS.has(field);
}

/** What the plugin needs of the audit log: appending, and whether this request already has a DENIED entry. */
export interface DeniedAccessAudit extends AuditSink {
  hasDeniedEntry(requestId: string, actorId: string): Promise<boolean>;
}

/**
 * Refusals raised inside services (write rules, erasure without step-up, filter refusals, by-id NOT_FOUND,
 * nested rows out of scope) are audited here, once per request: in `didEncounterErrors`, which Apollo awaits
 * before it formats and sends the response, one `access.denied` entry names the error codes and paths
 * (never values). A request that already has a DENIED entry — from the guard, `customer(id)` or a service
 * that records its own — or whose refusals the field policy collected (flushed as `access.denied_fields`)
 * gets nothing more, so a denial counts once per request. A request whose only refusals are batch items not found
 * is recorded with the reason `BATCH_ITEMS_NOT_FOUND`, which DENIED_BURST leaves out.
 */
export function deniedAccessAuditPlugin(audit: DeniedAccessAudit, context: RequestContext, logger: AuditFailureLogger): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart({ contextValue }) {
      return {
        async didEncounterErrors({ errors, operation, document }) {
          const refusals = errors.filter((e) => REFUSALS.has(String(e.extensions?.code ?? '')));
          if (!refusals.length) return;
          const refused = refusals.map((e) => ({ code: String(e.extensions?.code), path: e.path?.join('.') ?? null }));
          const req = (contextValue as { req?: FieldPolicyRequest }).req;
          if (req?.custosFieldAudit?.denied.size) return;
          const requestId = context.requestId;
          const principal = context.principal;
          const actorId = principal?.kind === 'USER' ? principal.userId : principal?.kind === 'PARTNER' ? principal.tokenId : undefined;
          const entry: AuditRecord = {
            action: 'access.denied',
            outcome: 'DENIED',
            resourceType: 'Operation',
            resourceId: rootFieldOfError(refusals[0], operation, document),
            // Only batch items not found: recorded as refused, told apart so DENIED_BURST does not count them.
            details: { reason: refusals.every((e) => isBatchItemNotFound(e, operation, document)) ? BATCH_ITEMS_NOT_FOUND : 'refused by service', errors: refused.slice(0, 20) },
          };
          await appendOrLog(entry, logger, requestId, async (e) => {
            if (requestId && actorId && (await audit.hasDeniedEntry(requestId, actorId))) return;
            await audit.record(e);
          });
        },
      };
    },
  };
}

/**
 * Codes a failed mutation is not recorded under here: refusals (above), unauthenticated requests, and
 * requests refused before they ran (parse and validation errors carry no path, so they never reach the check).
 */
const NOT_A_FAILED_MUTATION: ReadonlySet<string> = new Set([...REFUSALS, ErrorCode.UNAUTHENTICATED, ErrorCode.RATE_LIMITED, ErrorCode.QUERY_TOO_COMPLEX]);

/**
 * SPEC §5 records every mutation. A successful one leaves its service's entry in its transaction; one that
 * fails rolls that back, so this records it once per request as `mutation.failed` (outcome ERROR) with the
 * mutation's name, the error codes and paths — never input values. Only errors at a mutation's root field
 * count: one below it is a nested read, or one item of an ingest call (`event.ingest` counts those), and one
 * without a path (variables that cannot be coerced) came before anything ran or anyone was authenticated.
 * Sign-in steps, step-up and verification codes record their own outcomes, failures included.
 */
export function failedMutationAuditPlugin(audit: AuditSink, logger: AuditFailureLogger, context?: Pick<RequestContext, 'requestId'>): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, operation, document }) {
          if (operation?.operation !== 'mutation') return;
          // Paths are response keys (aliases); the operation's own name decides whether it records itself.
          const failed = errors
            .filter((e) => e.path?.length === 1)
            .map((e) => ({ field: rootFieldOfError(e, operation, document)!, code: String(e.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR), path: e.path!.join('.') }))
            .filter((e) => !ONCE_PER_REQUEST_OPERATIONS.has(e.field) && !NOT_A_FAILED_MUTATION.has(e.code));
          if (!failed.length) return;
          const entry: AuditRecord = {
            action: 'mutation.failed', outcome: 'ERROR', resourceType: 'Operation', resourceId: failed[0].field,
            details: { errors: failed.slice(0, 20).map(({ code, path }) => ({ code, path })) },
          };
          await appendOrLog(entry, logger, context?.requestId, (e) => audit.record(e));
        },
      };
    },
  };
}
