import type { GraphQLRequestContextDidEncounterErrors, BaseContext, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError, parse, type OperationDefinitionNode } from 'graphql';
import { BATCH_ITEMS_NOT_FOUND, type AuditRecord, type AuditSink } from '../common/audit/audit-sink';
import type { RequestContext } from '../common/context/request-context';
import { deniedAccessAuditPlugin, failedMutationAuditPlugin, type DeniedAccessAudit } from './denied-access-audit.plugin';

const poolExhausted = () => new Error('timeout exceeded when trying to connect');
const statementTimeout = () => Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });

function errorAt(code: string, path: string): GraphQLError {
  return new GraphQLError('failed', { path: [path], extensions: { code } });
}

/** Runs the plugin's didEncounterErrors hook as Apollo would for one request. */
async function encounter(plugin: ReturnType<typeof failedMutationAuditPlugin>, errors: GraphQLError[], operation: 'mutation' | 'query' = 'mutation'): Promise<void> {
  const listener = (await plugin.requestDidStart!({ contextValue: {} } as never)) as GraphQLRequestListener<BaseContext>;
  await listener.didEncounterErrors!({ errors, operation: { operation } } as unknown as GraphQLRequestContextDidEncounterErrors<BaseContext>);
}

function sink(record: (entry: AuditRecord) => Promise<void>): AuditSink & { entries: AuditRecord[] } {
  const entries: AuditRecord[] = [];
  return {
    entries,
    record: async (entry) => {
      await record(entry);
      entries.push(entry);
    },
    recordMany: async () => undefined,
  };
}

describe('failure audit plugins when the database cannot take the entry', () => {
  const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const logger = { error: (fields: object, message: string) => void logged.push({ fields: fields as Record<string, unknown>, message }) };
  const context = { requestId: 'req-1', principal: { kind: 'USER', userId: 'u-1' } } as unknown as RequestContext;

  beforeEach(() => {
    logged.length = 0;
  });

  it('records a failed mutation as mutation.failed with codes and paths', async () => {
    const audit = sink(async () => undefined);
    await encounter(failedMutationAuditPlugin(audit, logger, context), [errorAt('BAD_USER_INPUT', 'updateCustomer')]);
    expect(audit.entries).toEqual([
      { action: 'mutation.failed', outcome: 'ERROR', resourceType: 'Operation', resourceId: 'updateCustomer', details: { errors: [{ code: 'BAD_USER_INPUT', path: 'updateCustomer' }] } },
    ]);
    expect(logged).toEqual([]);
  });

  it.each([
    ['an exhausted pool', poolExhausted, 'POOL_EXHAUSTED'],
    ['a statement timeout', statementTimeout, 'STATEMENT_TIMEOUT'],
  ])('logs the mutation.failed entry instead of failing the response on %s', async (_, failure, reason) => {
    const audit = sink(async () => {
      throw failure();
    });
    await expect(encounter(failedMutationAuditPlugin(audit, logger, context), [errorAt('SERVICE_UNAVAILABLE', 'updateCustomer')])).resolves.toBeUndefined();
    expect(audit.entries).toEqual([]);
    expect(logged).toHaveLength(1);
    expect(logged[0].message).toBe('audit entry not written: the database is unavailable');
    expect(logged[0].fields).toMatchObject({
      reason,
      audit: { action: 'mutation.failed', outcome: 'ERROR', resourceId: 'updateCustomer', requestId: 'req-1', details: { errors: [{ code: 'SERVICE_UNAVAILABLE', path: 'updateCustomer' }] } },
    });
  });

  it('still fails the request when the append fails for any other reason', async () => {
    const audit = sink(async () => {
      throw new Error('audit chain broken');
    });
    await expect(encounter(failedMutationAuditPlugin(audit, logger, context), [errorAt('INTERNAL_SERVER_ERROR', 'updateCustomer')])).rejects.toThrow('audit chain broken');
    expect(logged).toEqual([]);
  });

  it('logs a refusal whose access.denied entry cannot be written, whether the duplicate check or the append fails', async () => {
    for (const failing of ['check', 'append'] as const) {
      logged.length = 0;
      const audit: DeniedAccessAudit = {
        ...sink(async () => {
          if (failing === 'append') throw poolExhausted();
        }),
        hasDeniedEntry: async () => {
          if (failing === 'check') throw poolExhausted();
          return false;
        },
      };
      await expect(encounter(deniedAccessAuditPlugin(audit, context, logger), [errorAt('FORBIDDEN', 'alert')], 'query')).resolves.toBeUndefined();
      expect(logged).toHaveLength(1);
      expect(logged[0].fields).toMatchObject({ reason: 'POOL_EXHAUSTED', audit: { action: 'access.denied', outcome: 'DENIED', resourceId: 'alert', requestId: 'req-1' } });
    }
  });
});

describe('the access.denied entry of a batch whose items were not found', () => {
  const context = { requestId: 'req-2', principal: { kind: 'PARTNER', tokenId: 't-1' } } as unknown as RequestContext;
  const logger = { error: () => undefined };
  const itemError = (code: string, key: string, index: number) => new GraphQLError('refused', { path: [key, index], extensions: { code } });

  /** The reason recorded for `errors` raised while running `document`. */
  async function reasonFor(document: string, errors: GraphQLError[]): Promise<unknown> {
    const audit: DeniedAccessAudit = { ...sink(async () => undefined), hasDeniedEntry: async () => false };
    const entries = (audit as unknown as { entries: AuditRecord[] }).entries;
    const operation = parse(document).definitions[0] as OperationDefinitionNode;
    const listener = (await deniedAccessAuditPlugin(audit, context, logger).requestDidStart!({ contextValue: {} } as never)) as GraphQLRequestListener<BaseContext>;
    await listener.didEncounterErrors!({ errors, operation } as unknown as GraphQLRequestContextDidEncounterErrors<BaseContext>);
    expect(entries).toHaveLength(1);
    return entries[0].details?.reason;
  }

  it('names it apart when every refusal is an item of ingestEvents not found, under an alias too', async () => {
    expect(await reasonFor('mutation { ingestEvents(events: []) { decision } }', [itemError('NOT_FOUND', 'ingestEvents', 0), itemError('NOT_FOUND', 'ingestEvents', 3)])).toBe(BATCH_ITEMS_NOT_FOUND);
    expect(await reasonFor('mutation { feed: ingestEvents(events: []) { decision } }', [itemError('NOT_FOUND', 'feed', 1)])).toBe(BATCH_ITEMS_NOT_FOUND);
    expect(await reasonFor('mutation { ... on Mutation { feed: ingestEvents(events: []) { decision } } }', [itemError('NOT_FOUND', 'feed', 1)])).toBe(BATCH_ITEMS_NOT_FOUND);
  });

  it('records any other refusal as refused by service: an item refused outright, a by-id NOT_FOUND, another field aliased as ingestEvents', async () => {
    const ingest = 'mutation { ingestEvents(events: []) { decision } }';
    expect(await reasonFor(ingest, [itemError('NOT_FOUND', 'ingestEvents', 0), itemError('FORBIDDEN', 'ingestEvents', 1)])).toBe('refused by service');
    expect(await reasonFor('query { event(id: "x") { id } }', [new GraphQLError('refused', { path: ['event'], extensions: { code: 'NOT_FOUND' } })])).toBe('refused by service');
    expect(await reasonFor('query { ingestEvents: events { totalCount } }', [itemError('NOT_FOUND', 'ingestEvents', 0)])).toBe('refused by service');
  });
});
