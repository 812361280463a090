import { getOperationAST, getVariableValues, type DocumentNode, type GraphQLSchema } from 'graphql';
import { BadUserInputError, type FieldError } from '../common/errors/app-error';

const VARIABLE = /^Variable "\$([^"]+)" got invalid value [\s\S]*?(?: at "([^"]+)")?; ([\s\S]+)$/;
const MISSING_OR_UNKNOWN = /^Field "([^"]+)" (?:of required type "[^"]+" was not provided|is not defined by type)/;

/**
 * graphql-js's message for a variable it cannot coerce, as our `fieldErrors`:
 * `Variable "$i" got invalid value "x" at "i.dateOfBirth"; <reason>` → `{path: 'dateOfBirth', message: reason}`,
 * the dotted path from the input root (SPEC §8) with the variable's own name dropped; a missing or unknown
 * input field is named by its own path.
 */
export function variableFieldErrors(message: string): FieldError[] {
  const match = VARIABLE.exec(message);
  if (!match) return [];
  const [, variable, at, reason] = match;
  const segments = (at ?? variable).split('.');
  if (segments[0] === variable) segments.shift();
  const field = MISSING_OR_UNKNOWN.exec(reason)?.[1];
  if (field) segments.push(field);
  return [{ path: segments.length ? segments.join('.') : variable, message: reason.trim() }];
}

/**
 * BAD_USER_INPUT (HTTP 400) naming every variable graphql-js cannot coerce, or null when they all coerce.
 * Pricing answers with it when the variables fail there, and the executor when pricing did not coerce them
 * (a remembered cost): either way the caller gets the same error.
 */
export function variablesError(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
): BadUserInputError | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 20 });
  if (!coerced.errors?.length) return null;
  const fieldErrors = coerced.errors.flatMap((e) => variableFieldErrors(e.message));
  return new BadUserInputError(coerced.errors.map((e) => e.message).join('; '), fieldErrors, { http: { status: 400 } });
}
