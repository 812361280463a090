import { Kind, parse, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { selectedNodeFields } from './selected-fields';

/** The resolve info of the operation's first root field, as GraphQL hands it to that field's resolver. */
function infoOf(document: string) {
  const doc = parse(document);
  const operation = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return { fieldNodes: [operation.selectionSet.selections[0] as FieldNode], fragments };
}

describe('selectedNodeFields', () => {
  it('names the fields selected on nodes, not their aliases, and nothing outside nodes', () => {
    const info = infoOf('{ customers { totalCount nodes { id mail: email fullName } pageInfo { endCursor } } }');
    expect([...selectedNodeFields(info)].sort()).toEqual(['email', 'fullName', 'id']);
  });

  it('follows named and inline fragments, at the connection and at the node level', () => {
    const info = infoOf(`
      query { customers { ...Page } }
      fragment Page on CustomerConnection { nodes { id ...Contact ... on Customer { riskLevel } } }
      fragment Contact on Customer { phone ... on Customer { address } }`);
    expect([...selectedNodeFields(info)].sort()).toEqual(['address', 'id', 'phone', 'riskLevel']);
  });

  it('merges the field nodes GraphQL merged for one response key', () => {
    const doc = infoOf('{ customers { nodes { id } } }');
    const other = infoOf('{ customers { nodes { nationalId } } }');
    const info = { fieldNodes: [...doc.fieldNodes, ...other.fieldNodes], fragments: {} };
    expect([...selectedNodeFields(info)].sort()).toEqual(['id', 'nationalId']);
  });

  it('counts a field under @skip too (loading a column too many is harmless)', () => {
    const info = infoOf('query($s: Boolean!) { customers { nodes { id email @skip(if: $s) } } }');
    expect(selectedNodeFields(info).has('email')).toBe(true);
  });

  it('does not loop on a fragment spread twice', () => {
    const info = infoOf('query { customers { nodes { ...A ...A } } } fragment A on Customer { id }');
    expect([...selectedNodeFields(info)]).toEqual(['id']);
  });
});
