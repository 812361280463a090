import {
  astFromValue,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  typeFromAST,
  valueFromASTUntyped,
  type DocumentNode,
  type GraphQLInputField,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

type Variables = Record<string, unknown>;

/**
 * graphql-jit (0.8) coerces variables with code of its own that applies an input field's default only when
 * the field is nullable: `orderBy: $order` with `{"field": "EXTERNAL_REF"}` then failed on the omitted
 * `direction: SortDirection! = ASC`, where graphql-js (and the same document written inline) uses the
 * default. For an operation whose variables can hold such a field, this returns a function that adds the
 * omitted defaults to a copy of the variables, as the client could have written them, before the compiled
 * query coerces them; for any other operation (ingestEvents' inputs have none) it returns null and costs
 * nothing per request.
 */
export function inputDefaultsFor(schema: GraphQLSchema, document: DocumentNode, operationName: string | null): ((variables: Variables) => Variables) | null {
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (operationName === null || d.name?.value === operationName),
  );
  if (!operation?.variableDefinitions?.length) return null;
  const typed = operation.variableDefinitions.flatMap((d) => {
    const type = typeFromAST(schema, d.type) as GraphQLInputType | undefined;
    return type ? [{ name: d.variable.name.value, type }] : [];
  });
  if (!typed.some(({ type }) => needsDefaults(type, new Set()))) return null;
  return (variables) => {
    const filled: Variables = { ...variables };
    for (const { name, type } of typed) if (name in filled) filled[name] = withDefaults(filled[name], type);
    return filled;
  };
}

/** Whether a value of `type` can hold a non-null input field that has a default. */
function needsDefaults(type: GraphQLInputType, seen: Set<string>): boolean {
  if (isNonNullType(type) || isListType(type)) return needsDefaults(type.ofType as GraphQLInputType, seen);
  if (!isInputObjectType(type) || seen.has(type.name)) return false;
  seen.add(type.name);
  return Object.values(type.getFields()).some((f) => (isNonNullType(f.type) && f.defaultValue !== undefined) || needsDefaults(f.type, seen));
}

function withDefaults(value: unknown, type: GraphQLInputType): unknown {
  if (value === null || value === undefined) return value;
  if (isNonNullType(type)) return withDefaults(value, type.ofType as GraphQLInputType);
  if (isListType(type)) {
    const item = type.ofType as GraphQLInputType;
    return Array.isArray(value) ? value.map((v) => withDefaults(v, item)) : withDefaults(value, item);
  }
  if (!isInputObjectType(type) || typeof value !== 'object' || Array.isArray(value)) return value;
  const filled: Variables = { ...(value as Variables) };
  for (const field of Object.values(type.getFields())) {
    if (field.name in filled) filled[field.name] = withDefaults(filled[field.name], field.type);
    else if (field.defaultValue !== undefined) filled[field.name] = externalDefault(field);
  }
  return filled;
}

/** A field's default as a client would send it (an enum's name, not its internal value). */
function externalDefault(field: GraphQLInputField): unknown {
  const ast = astFromValue(field.defaultValue, field.type);
  return ast ? valueFromASTUntyped(ast) : undefined;
}
