import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { execute, GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { inputDefaultsFor } from './input-defaults';
import { variablesError } from './variable-errors';

/**
 * Executes operations with graphql-jit: a document that comes back is compiled once into a function that
 * resolves its selection without re-walking the AST for every field of every row (graphql-js does, for a
 * 100-row page ~700 times). A document's first executions (GRAPHQL_COMPILE_AFTER, default 1) are
 * interpreted by graphql-js, because compiling costs more than one execution and many documents (inline
 * literals) are seen once; after them the compiled form runs. Resolvers, field policies and errors are the
 * same either way: both call the schema's resolvers and report errors at their paths.
 *
 * Apollo Server accepts a custom executor only through its gateway interface, so this is one: it serves the
 * schema Nest built (with the field policies applied) and never changes it.
 */
export class CompiledExecution {
  private schema?: GraphQLSchema;
  /** Per parsed document (Apollo reuses the object for the same query text) and operation name. */
  private readonly documents = new WeakMap<DocumentNode, Map<string, DocumentPlan>>();

  /** Executions so far, by how they ran (exposed for tests and diagnostics). */
  readonly counts = { interpreted: 0, compiled: 0 };

  /** `compileAfter`: executions of a document interpreted before it is compiled (0: compile at once). */
  constructor(private readonly compileAfter: number) {}

  /** Receives the final schema (Nest's transformSchema hook) and returns it unchanged. */
  readonly useSchema = (schema: GraphQLSchema): GraphQLSchema => {
    this.schema = schema;
    return schema;
  };

  readonly gateway: GatewayInterface = {
    onSchemaLoadOrUpdate: (callback) => {
      callback({ apiSchema: this.currentSchema(), coreSupergraphSdl: '' });
      return () => undefined;
    },
    load: async () => ({ executor: this.executor }),
    stop: async () => undefined,
  };

  private readonly executor: GatewayExecutor = async (requestContext) => {
    const schema = this.currentSchema();
    const { document, operationName } = requestContext;
    const variables = requestContext.request.variables ?? {};
    // No operation to run (Apollo then passes no operationName, so the document's only operation would run):
    // graphql-js, given the name the client asked for, answers which one is missing without running anything,
    // and Apollo turns that into OPERATION_RESOLUTION_FAILURE.
    if (!requestContext.operation) {
      return (await execute({ schema, document, operationName: requestContext.request.operationName, contextValue: requestContext.context, variableValues: variables })) as ExecutionResult;
    }
    const plan = this.planFor(document, operationName ?? null);
    plan.executions += 1;
    const compiled = plan.executions > this.compileAfter ? (plan.compiled ??= compile(schema, document, operationName)) : 'interpret';
    let result: ExecutionResult;
    if (compiled === 'interpret') {
      this.counts.interpreted += 1;
      result = (await execute({ schema, document, operationName, contextValue: requestContext.context, variableValues: variables })) as ExecutionResult;
    } else {
      this.counts.compiled += 1;
      if (plan.inputDefaults === undefined) plan.inputDefaults = inputDefaultsFor(schema, document, operationName ?? null);
      const coercible = plan.inputDefaults ? plan.inputDefaults(variables) : variables;
      result = (await compiled.query(undefined, requestContext.context, coercible)) as ExecutionResult;
      if (result.errors?.length) result = { ...result, errors: result.errors.map(standardError) };
    }
    // No data at all: the variables did not coerce (nothing ran). Pricing usually finds that first, but not
    // for a shape whose cost it remembers; the answer is the same BAD_USER_INPUT either way.
    if (result.errors?.length && result.data === undefined) {
      const invalid = variablesError(schema, document, variables, operationName ?? undefined);
      if (invalid) throw invalid;
    }
    return result;
  };

  private planFor(document: DocumentNode, operationName: string | null): DocumentPlan {
    let byOperation = this.documents.get(document);
    if (!byOperation) this.documents.set(document, (byOperation = new Map()));
    const key = operationName ?? '';
    let plan = byOperation.get(key);
    if (!plan) byOperation.set(key, (plan = { executions: 0 }));
    return plan;
  }

  /** The served schema; throws before Nest has built it. */
  currentSchema(): GraphQLSchema {
    if (!this.schema) throw new Error('the GraphQL schema is not built yet');
    return this.schema;
  }
}

/** The compiled form, or 'interpret' for a document graphql-jit refuses (Apollo has validated it, so graphql-js can run it). */
function compile(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): CompiledQuery | 'interpret' {
  try {
    const compiled = compileQuery(schema, document, operationName ?? undefined, { disablingCapturingStackErrors: true });
    return isCompiledQuery(compiled) ? compiled : 'interpret';
  } catch {
    return 'interpret';
  }
}

/**
 * graphql-jit's errors are GraphQLErrors whose properties are read-only; Apollo plugins rewrite messages
 * (graphql-armor hides field suggestions in production), so each becomes graphql-js's own error, with the
 * same message, path, locations, extensions and original error.
 */
function standardError(error: GraphQLError): GraphQLError {
  const standard = new GraphQLError(error.message, { path: error.path, originalError: error.originalError ?? undefined, extensions: error.extensions });
  (standard as { locations?: GraphQLError['locations'] }).locations = error.locations;
  return standard;
}

interface DocumentPlan {
  executions: number;
  compiled?: CompiledQuery | 'interpret';
  /** Adds omitted input-field defaults to the variables (see inputDefaultsFor); null when none can be. */
  inputDefaults?: ((variables: Record<string, unknown>) => Record<string, unknown>) | null;
}
