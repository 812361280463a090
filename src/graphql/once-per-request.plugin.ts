import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Kind, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { ONCE_PER_REQUEST_OPERATIONS } from '../access/operations';
import { QueryTooComplexError } from '../common/errors/app-error';

/**
 * Root fields of the operation that verify a secret, counting aliases and fields reached through fragments.
 * Each fragment is counted once and its count reused wherever it is spread: a document whose fragments each
 * spread the next one twice names 2^n fields in n lines, and walking every spread would take as long.
 * A fragment met again while it is being counted (a cycle, which validation refuses first) counts 0.
 */
export function countSecretChecks(selectionSet: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, counted = new Map<string, number>()): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (ONCE_PER_REQUEST_OPERATIONS.has(selection.name.value)) count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += countSecretChecks(selection.selectionSet, fragments, counted);
    } else {
      const name = selection.name.value;
      let known = counted.get(name);
      if (known === undefined) {
        counted.set(name, 0);
        const fragment = fragments[name];
        known = fragment ? countSecretChecks(fragment.selectionSet, fragments, counted) : 0;
        counted.set(name, known);
      }
      count += known;
    }
  }
  return count;
}

/**
 * One request may verify at most one secret (every sign-in step, stepUp, completeCustomerVerification:
 * ONCE_PER_REQUEST_OPERATIONS): 60 aliased guesses in one document would otherwise cost one HTTP request.
 * Refused before anything executes, so no attempt is counted and the challenge survives.
 */
export function oncePerRequestPlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document }) {
          if (!operation) return;
          const fragments = Object.fromEntries(
            document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
          );
          if (countSecretChecks(operation.selectionSet, fragments) > 1) {
            throw new QueryTooComplexError('Only one sign-in or code verification may run per request');
          }
        },
      };
    },
  };
}
