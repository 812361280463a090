import { Kind, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * The field names a client selected on the nodes of the connection being resolved (`nodes { … }`), through
 * aliases, named and inline fragments, so a list can load only the columns it will serve. Directives are
 * ignored (a field under `@skip` still counts: loading a column too many is harmless, one too few is not).
 */
export function selectedNodeFields(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): Set<string> {
  const fields = new Set<string>();
  for (const node of info.fieldNodes) {
    forEachField(node.selectionSet, info.fragments, (name, selectionSet) => {
      if (name === 'nodes') forEachField(selectionSet, info.fragments, (field) => fields.add(field));
    });
  }
  return fields;
}

function forEachField(
  selectionSet: SelectionSetNode | undefined,
  fragments: Record<string, FragmentDefinitionNode>,
  visit: (name: string, selectionSet: SelectionSetNode | undefined) => void,
  seen = new Set<string>(),
): void {
  if (!selectionSet) return;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) visit(selection.name.value, selection.selectionSet);
    else if (selection.kind === Kind.INLINE_FRAGMENT) forEachField(selection.selectionSet, fragments, visit, seen);
    else if (selection.kind === Kind.FRAGMENT_SPREAD && !seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      forEachField(fragments[selection.name.value]?.selectionSet, fragments, visit, seen);
    }
  }
}
