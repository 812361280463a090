import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { buildSchema, getOperationAST, parse, type DocumentNode, type GraphQLSchema } from 'graphql';
import { BadUserInputError } from '../common/errors/app-error';
import { CompiledExecution } from './compiled-execution';

function schema(): GraphQLSchema {
  const built = buildSchema(`type Query { rows(n: Int!): [Row!]! }  type Row { id: Int! secret: String label: String }`);
  const fields = built.getQueryType()!.getFields();
  fields.rows.resolve = (_s, { n }: { n: number }) => Array.from({ length: n }, (_, i) => ({ id: i }));
  const row = (built.getType('Row') as import('graphql').GraphQLObjectType).getFields();
  row.secret.resolve = () => {
    throw Object.assign(new Error('no'), { extensions: { code: 'FORBIDDEN' } });
  };
  row.label.resolve = async (r: { id: number }) => `row ${r.id}`;
  return built;
}

async function executorOf(execution: CompiledExecution) {
  const { executor } = await execution.gateway.load({ apollo: {} as never });
  // As Apollo hands it over: the operation it resolved (none for an unknown name) and, then, no operationName.
  return (document: DocumentNode, variables: Record<string, unknown>, requested?: string) => {
    const operation = getOperationAST(document, requested) ?? undefined;
    return executor!({ document, operation, operationName: operation?.name?.value ?? null, request: { variables, operationName: requested }, context: {} } as unknown as GatewayGraphQLRequestContext);
  };
}

describe('CompiledExecution', () => {
  const document = parse('query($n: Int!) { rows(n: $n) { id secret label } }');

  it('interprets a document first, then runs it compiled, with the same data and errors', async () => {
    const execution = new CompiledExecution(1);
    execution.useSchema(schema());
    const run = await executorOf(execution);
    const interpreted = await run(document, { n: 2 });
    expect(execution.counts).toEqual({ interpreted: 1, compiled: 0 });
    const compiled = await run(document, { n: 2 });
    expect(execution.counts).toEqual({ interpreted: 1, compiled: 1 });
    expect(compiled.data).toEqual(interpreted.data);
    expect(compiled.data).toEqual({ rows: [{ id: 0, secret: null, label: 'row 0' }, { id: 1, secret: null, label: 'row 1' }] });
    const shape = (r: typeof compiled) => r.errors!.map((e) => ({ message: e.message, path: e.path, code: e.extensions?.code, locations: e.locations }));
    expect(shape(compiled)).toEqual(shape(interpreted));
    expect(shape(compiled)[0]).toEqual({ message: 'no', path: ['rows', 0, 'secret'], code: 'FORBIDDEN', locations: [{ line: 1, column: 36 }] });
  });

  it('hands Apollo errors whose messages plugins may rewrite', async () => {
    const execution = new CompiledExecution(0);
    execution.useSchema(schema());
    const run = await executorOf(execution);
    const result = await run(document, { n: 1 });
    expect(execution.counts.compiled).toBe(1);
    const error = result.errors![0] as { message: string };
    error.message = 'rewritten';
    expect(error.message).toBe('rewritten');
  });

  it('compiles each document once and keeps documents apart', async () => {
    const execution = new CompiledExecution(0);
    execution.useSchema(schema());
    const run = await executorOf(execution);
    const other = parse('{ rows(n: 1) { id } }');
    expect((await run(document, { n: 3 })).data).toEqual({ rows: [0, 1, 2].map((id) => ({ id, secret: null, label: `row ${id}` })) });
    expect((await run(other, {})).data).toEqual({ rows: [{ id: 0 }] });
    expect((await run(document, { n: 1 })).data).toEqual({ rows: [{ id: 0, secret: null, label: 'row 0' }] });
    expect(execution.counts).toEqual({ interpreted: 0, compiled: 3 });
  });

  it.each([
    ['interpreted', 5],
    ['compiled', 0],
  ])('answers variables that do not coerce with BAD_USER_INPUT naming each, %s', async (_path, compileAfter) => {
    const execution = new CompiledExecution(compileAfter);
    execution.useSchema(schema());
    const run = await executorOf(execution);
    const bad = run(document, { n: 'three' });
    await expect(bad).rejects.toBeInstanceOf(BadUserInputError);
    await expect(bad).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: [{ path: 'n', message: 'Expected type "Int".' }], http: { status: 400 } } });
    // The value itself is never repeated (it may be PII).
    await expect(bad).rejects.toMatchObject({ message: expect.not.stringContaining('three') });
    // A resolver's error is not a variable error: the partial result comes back as it is.
    await expect(run(document, { n: 1 })).resolves.toMatchObject({ data: { rows: [{ id: 0, secret: null }] }, errors: [{ message: 'no' }] });
  });

  it.each([0, 1])('runs nothing for an operation name the document lacks, and says so (compile after %i)', async (compileAfter) => {
    const execution = new CompiledExecution(compileAfter);
    execution.useSchema(schema());
    const run = await executorOf(execution);
    const named = parse('query Rows { rows(n: 1) { id } }');
    for (let i = 0; i < 2; i++) {
      const result = await run(named, {}, 'Other');
      expect(result.data).toBeUndefined();
      expect(result.errors?.map((e) => e.message)).toEqual(['Unknown operation named "Other".']);
    }
    expect(execution.counts).toEqual({ interpreted: 0, compiled: 0 });
    expect((await run(named, {}, 'Rows')).data).toEqual({ rows: [{ id: 0 }] });
  });
});
