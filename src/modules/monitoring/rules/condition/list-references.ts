import type { Condition, Operand } from './condition.types';

/** A `{"list": code}` operand and the dotted path of its `list` key, as validation errors name nodes. */
export interface ListReference {
  code: string;
  path: string;
}

/**
 * Every watchlist a condition reads, in document order, aggregates' `where` included. The condition must
 * have passed `validateCondition`: this walks the shape, it does not check it.
 */
export function listReferences(condition: Condition, rootPath = 'condition'): ListReference[] {
  const found: ListReference[] = [];
  walkCondition(condition, rootPath, found);
  return found;
}

function walkCondition(node: Condition, path: string, found: ListReference[]): void {
  if ('all' in node) node.all.forEach((c, i) => walkCondition(c, `${path}.all.${i}`, found));
  else if ('any' in node) node.any.forEach((c, i) => walkCondition(c, `${path}.any.${i}`, found));
  else if ('not' in node) walkCondition(node.not, `${path}.not`, found);
  else {
    walkOperand(node.compare.left, `${path}.compare.left`, found);
    walkOperand(node.compare.right, `${path}.compare.right`, found);
  }
}

function walkOperand(node: Operand, path: string, found: ListReference[]): void {
  if ('list' in node) found.push({ code: node.list, path: `${path}.list` });
  else if ('mul' in node) node.mul.forEach((o, i) => walkOperand(o, `${path}.mul.${i}`, found));
  else if ('aggregate' in node && node.aggregate.where) walkCondition(node.aggregate.where, `${path}.aggregate.where`, found);
}
