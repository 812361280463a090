import { Kind, parse, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { countSecretChecks } from './once-per-request.plugin';

const count = (source: string): number => {
  const document = parse(source, { noLocation: true });
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  return countSecretChecks(operation.selectionSet, fragments);
};

describe('countSecretChecks', () => {
  it('counts aliases, inline fragments and every spread of a fragment', () => {
    expect(count('mutation { a: stepUp(code: "1") { expiresAt } b: stepUp(code: "2") { expiresAt } }')).toBe(2);
    expect(count('mutation { ... on Mutation { stepUp(code: "1") { expiresAt } } logout }')).toBe(1);
    expect(count('mutation { ...S ...S } fragment S on Mutation { stepUp(code: "1") { expiresAt } }')).toBe(2);
    expect(count('mutation { logout }')).toBe(0);
  });

  it('counts a fragment once however often it is spread: 2^40 spreads take no time', () => {
    const levels = 40;
    const source = 'mutation { ...F0 } ' + Array.from({ length: levels }, (_, i) => `fragment F${i} on Mutation { ...F${i + 1} ...F${i + 1} }`).join(' ') + ` fragment F${levels} on Mutation { stepUp(code: "1") { expiresAt } }`;
    const started = Date.now();
    expect(count(source)).toBe(2 ** levels);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('a cycle (which validation refuses first) ends instead of recursing forever', () => {
    expect(count('mutation { ...A } fragment A on Mutation { stepUp(code: "1") { expiresAt } ...B } fragment B on Mutation { ...A }')).toBe(1);
  });
});
