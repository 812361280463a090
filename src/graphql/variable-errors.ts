import {
  coerceInputValue,
  getOperationAST,
  GraphQLError,
  isNonNullType,
  typeFromAST,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { AppError, BadUserInputError, type FieldError } from '../common/errors/app-error';

/*
 * graphql-js writes the values it could not coerce into its messages ("got invalid value { email: … }",
 * "cannot represent a non string value: …", "found …"): an input is often PII, and SPEC §4 keeps PII out of
 * every error message. So every coercion error a client sees is rebuilt here from names, types and our
 * own (value-free) scalar messages only.
 */

const VARIABLE = /^Variable "\$([^"]+)" got invalid value [\s\S]*?(?: at "([^"]+)")?; ([\s\S]+)$/;
const MISSING_OR_UNKNOWN = /^Field "([^"]+)" (?:of required type "[^"]+" was not provided|is not defined by type "[^"]+")/;
const NOT_NULL = /^Expected non-nullable type "[^"]+" not to be null\./;
const NOT_OBJECT = /^Expected type "[^"]+" to be an object\./;
const EXPECTED_TYPE = /^Expected (?:value of )?type "([^"]+)"/;
const ENUM = /does not exist in "([^"]+)" enum/;
const REPRESENT = /^(\w+) cannot represent/;

/**
 * What can be said of a coercion failure without repeating the value: messages that carry only names and
 * types pass; otherwise the expected type (or enum), or, at worst, that the value is invalid. `ours`: the
 * message of one of our own scalars (written without the value), kept after the expected type.
 */
export function safeReason(reason: string, ours?: string): string {
  const text = reason.trim();
  const unknown = MISSING_OR_UNKNOWN.exec(text);
  if (unknown) return unknown[0] + '.';
  const fixed = NOT_NULL.exec(text) ?? NOT_OBJECT.exec(text);
  if (fixed) return fixed[0];
  const enumName = ENUM.exec(text)?.[1];
  if (enumName) return `Expected a value of the "${enumName}" enum.`;
  const expected = EXPECTED_TYPE.exec(text)?.[1] ?? REPRESENT.exec(text)?.[1];
  if (expected) return ours ? `Expected type "${expected}". ${ours}` : `Expected type "${expected}".`;
  return 'Invalid value.';
}

/**
 * graphql-js's message for a variable it cannot coerce, as our `fieldErrors`:
 * `Variable "$i" got invalid value "x" at "i.dateOfBirth"; <reason>` → `{path: 'dateOfBirth', message}`,
 * the dotted path from the input root (SPEC §8) with the variable's own name dropped, a missing or unknown
 * input field named by its own path, and the reason without the value (`safeReason`).
 */
export function variableFieldErrors(message: string): FieldError[] {
  const match = VARIABLE.exec(message);
  if (!match) return [];
  const [, variable, at, reason] = match;
  const segments = (at ?? variable).split('.');
  if (segments[0] === variable) segments.shift();
  const field = MISSING_OR_UNKNOWN.exec(reason.trim())?.[1];
  if (field) segments.push(field);
  return [{ path: segments.length ? segments.join('.') : variable, message: safeReason(reason) }];
}

/**
 * A graphql-js input error's message without the values it quoted, for the error formatter: a variable's
 * ("Variable "$i" has an invalid value at "i.email": Expected type "String".") or an inline literal's.
 */
export function scrubInputMessage(message: string): string {
  const variable = VARIABLE.exec(message);
  if (variable) {
    const [, name, at, reason] = variable;
    return `Variable "$${name}" has an invalid value${at ? ` at "${at}"` : ''}: ${safeReason(reason)}`;
  }
  // An inline literal: `Expected value of type "T", found <literal>; <reason>`, or a scalar's own message.
  if (EXPECTED_TYPE.test(message) || REPRESENT.test(message) || ENUM.test(message)) return safeReason(message);
  return message;
}

/**
 * BAD_USER_INPUT (HTTP 400) naming every variable graphql-js cannot coerce, or null when they all coerce.
 * Pricing answers with it when the variables fail there, and the executor when pricing did not coerce them
 * (a remembered cost): either way the caller gets the same error, and no value appears in it.
 */
export function variablesError(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): BadUserInputError | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const inputs = variables ?? {};
  const fieldErrors: FieldError[] = [];
  for (const definition of operation.variableDefinitions ?? []) {
    if (fieldErrors.length >= 20) break;
    const name = definition.variable.name.value;
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    if (!type) continue; // an unknown type is a validation error, reported before variables are coerced
    if (!(name in inputs) || inputs[name] === undefined) {
      if (isNonNullType(type) && !definition.defaultValue) fieldErrors.push({ path: name, message: `Variable "$${name}" of required type "${String(type)}" was not provided.` });
      continue;
    }
    if (inputs[name] === null && isNonNullType(type)) {
      fieldErrors.push({ path: name, message: `Variable "$${name}" of non-null type "${String(type)}" must not be null.` });
      continue;
    }
    coerceInputValue(inputs[name], type, (path, _invalid, error: GraphQLError) => {
      const segments = path.map(String);
      const field = MISSING_OR_UNKNOWN.exec(error.message)?.[1];
      if (field) segments.push(field);
      const ours = error.originalError instanceof AppError ? error.originalError.message : undefined;
      fieldErrors.push({ path: segments.length ? segments.join('.') : name, message: safeReason(error.message, ours) });
    });
  }
  if (!fieldErrors.length) return null;
  return new BadUserInputError(`Invalid variables: ${fieldErrors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, fieldErrors, { http: { status: 400 } });
}
