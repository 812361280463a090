import type { CompareOp } from './vocabulary';
import { CUSTOMER_STATUSES, RISK_LEVELS, VERIFICATION_LEVELS } from './vocabulary';
import type { Operand } from './condition.types';

/**
 * Static types of operands. A comparison's meaning (its "domain") is fixed at validation time from these,
 * so that evaluation in TypeScript and translation to SQL agree, and mistakes such as `currency gt 5` are
 * refused up front instead of silently never matching.
 */
export type StaticType =
  | { kind: 'number' }
  | { kind: 'string'; values?: readonly string[] }
  | { kind: 'level'; scale: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'null' }
  | { kind: 'flags' }
  | { kind: 'any' } // attributes.<key>: whatever JSON the partner sent
  | { kind: 'array'; elem: 'string' | 'number' | 'empty' | 'invalid' } // an array literal
  | { kind: 'list' };

export type Domain =
  | { kind: 'isNull'; side: 'left' | 'right' } // eq/ne against a null literal: tests the other side
  | { kind: 'number' }
  | { kind: 'text' }
  | { kind: 'boolean' }
  | { kind: 'level'; scale: readonly string[] }
  | { kind: 'memberText' }
  | { kind: 'memberNumber' }
  | { kind: 'intersect' } // flags in/notIn: any element is a member
  | { kind: 'arrayContains' } // flags contains x
  | { kind: 'substring' } // text contains x, case-insensitive
  | { kind: 'containsDynamic' }; // attribute contains x: membership for arrays, substring for text

export interface TypeError {
  /** Relative to the compare node: `left`, `right`, `right.value`, `right.value.2`, `op`. */
  rel: string;
  message: string;
}

export function fieldType(name: string): StaticType {
  if (name === 'amount') return { kind: 'number' };
  if (name === 'flags') return { kind: 'flags' };
  if (name.startsWith('attributes.')) return { kind: 'any' };
  return { kind: 'string' };
}

export function staticType(o: Operand): StaticType {
  if ('value' in o) {
    const v = o.value;
    if (v === null) return { kind: 'null' };
    if (Array.isArray(v)) {
      if (v.length === 0) return { kind: 'array', elem: 'empty' };
      if (v.every((x) => typeof x === 'string')) return { kind: 'array', elem: 'string' };
      if (v.every((x) => typeof x === 'number')) return { kind: 'array', elem: 'number' };
      return { kind: 'array', elem: 'invalid' };
    }
    return { kind: typeof v as 'string' | 'number' | 'boolean' };
  }
  if ('field' in o) return fieldType(o.field);
  if ('current' in o) return fieldType(o.current);
  if ('customer' in o) {
    if (o.customer === 'riskLevel' || o.customer === 'creditLevel') return { kind: 'level', scale: RISK_LEVELS };
    if (o.customer === 'verificationLevel') return { kind: 'level', scale: VERIFICATION_LEVELS };
    if (o.customer === 'status') return { kind: 'string', values: CUSTOMER_STATUSES };
    return { kind: 'number' };
  }
  if ('list' in o) return { kind: 'list' };
  return { kind: 'number' }; // aggregate, mul
}

function label(o: Operand): string {
  if ('field' in o) return `field ${o.field}`;
  if ('current' in o) return `current ${o.current}`;
  if ('customer' in o) return `customer ${o.customer}`;
  if ('list' in o) return `list ${o.list}`;
  if ('aggregate' in o) return 'the aggregate';
  if ('mul' in o) return 'the product';
  return 'the value';
}

const KIND_WORD: Record<StaticType['kind'], string> = {
  number: 'a number',
  string: 'text',
  level: 'a level',
  boolean: 'a boolean',
  null: 'null',
  flags: 'a list of flags',
  any: 'an attribute',
  array: 'an array',
  list: 'a watchlist',
};

const LIST_POSITION = 'a list can only be the right operand of in or notIn';

/** Decides how `left op right` compares, or says which side is wrong and why. */
export function resolveCompare(left: Operand, op: CompareOp, right: Operand): { domain: Domain } | { errors: TypeError[] } {
  const lt = staticType(left);
  const rt = staticType(right);
  const fail = (rel: string, message: string) => ({ errors: [{ rel, message }] });
  const inOp = op === 'in' || op === 'notIn';
  if (lt.kind === 'list') return fail('left', LIST_POSITION);
  if (rt.kind === 'list' && !inOp) return fail('right', LIST_POSITION);
  // A literal that must name one of a fixed set of values (a level or a customer status).
  const checkNames = (rel: string, o: Operand, names: readonly string[] | undefined): TypeError[] => {
    if (!names || !('value' in o)) return [];
    const vs = Array.isArray(o.value) ? o.value : [o.value];
    const errs: TypeError[] = [];
    vs.forEach((v, i) => {
      if (typeof v === 'string' && !names.includes(v)) {
        errs.push({ rel: Array.isArray(o.value) ? `${rel}.value.${i}` : `${rel}.value`, message: `must be one of ${names.join(', ')}` });
      }
    });
    return errs;
  };
  const namesOf = (t: StaticType) => (t.kind === 'level' ? t.scale : t.kind === 'string' ? t.values : undefined);

  if (op === 'eq' || op === 'ne') {
    if (lt.kind === 'null') return { domain: { kind: 'isNull', side: 'right' } };
    if (rt.kind === 'null') return { domain: { kind: 'isNull', side: 'left' } };
    for (const [rel, t] of [['left', lt], ['right', rt]] as const) {
      if (t.kind === 'flags' || t.kind === 'array') return fail(rel, `${op} compares single values; use in, notIn or contains for arrays`);
    }
    const pair = (a: StaticType['kind'], accepts: StaticType['kind'][]): TypeError[] | null => {
      if (lt.kind !== a && rt.kind !== a) return null;
      const [rel, other, o] = lt.kind === a ? (['right', rt, right] as const) : (['left', lt, left] as const);
      if (accepts.includes(other.kind)) return [];
      return [{ rel: 'value' in o ? `${rel}.value` : rel, message: `must be ${KIND_WORD[a]} to compare with ${label(lt.kind === a ? left : right)}` }];
    };
    let errs = pair('number', ['number', 'any']);
    if (errs) return errs.length ? { errors: errs } : { domain: { kind: 'number' } };
    if (lt.kind === 'level' && rt.kind === 'level' && lt.scale !== rt.scale) return fail('right', `is on a different scale from ${label(left)}`);
    errs = pair('level', ['level', 'string', 'any']) ?? pair('string', ['string', 'any']);
    if (errs) {
      errs = errs.length ? errs : [...checkNames('right', right, namesOf(lt)), ...checkNames('left', left, namesOf(rt))];
      return errs.length ? { errors: errs } : { domain: { kind: 'text' } };
    }
    errs = pair('boolean', ['boolean', 'any']);
    if (errs) return errs.length ? { errors: errs } : { domain: { kind: 'boolean' } };
    return { domain: { kind: 'text' } }; // attribute against attribute: compared as text
  }

  if (op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') {
    const level = lt.kind === 'level' ? lt : rt.kind === 'level' ? rt : null;
    if (level) {
      const [rel, other, o] = lt.kind === 'level' ? (['right', rt, right] as const) : (['left', lt, left] as const);
      if (other.kind === 'level' && other.scale !== level.scale) return fail(rel, 'is on a different scale of levels');
      if (other.kind !== 'level' && other.kind !== 'any' && !(other.kind === 'string' && 'value' in o)) {
        const what = 'value' in o ? `must be one of ${level.scale.join(', ')}` : `must be a level (${level.scale.join(', ')}) or an attribute`;
        return fail('value' in o ? `${rel}.value` : rel, `${what} to order against ${label(lt.kind === 'level' ? left : right)}`);
      }
      const errs = checkNames(rel, o, level.scale);
      return errs.length ? { errors: errs } : { domain: { kind: 'level', scale: level.scale } };
    }
    for (const [rel, t, o] of [['left', lt, left], ['right', rt, right]] as const) {
      if (t.kind !== 'number' && t.kind !== 'any') {
        return fail('value' in o ? `${rel}.value` : rel, `${op} compares numbers or levels, and ${label(o)} is ${KIND_WORD[t.kind]}`);
      }
    }
    return { domain: { kind: 'number' } };
  }

  if (inOp) {
    if (rt.kind !== 'list' && rt.kind !== 'array') return fail('right', `${op} needs a list operand or an array value on the right`);
    if (rt.kind === 'array' && rt.elem === 'invalid') return fail('right.value', `${op} takes an array of strings or of numbers, not a mix, booleans or nulls`);
    if (lt.kind === 'null' || lt.kind === 'boolean' || lt.kind === 'array') {
      return fail('value' in left ? 'left.value' : 'left', `${op} needs a single text or number value, a field or an attribute on the left`);
    }
    const numbers = rt.kind === 'array' && rt.elem === 'number';
    if (lt.kind === 'number') {
      if (rt.kind === 'list' || rt.elem === 'string') return fail('right', `must hold numbers to match ${label(left)}`);
      return { domain: { kind: 'memberNumber' } };
    }
    if (lt.kind === 'any') return { domain: { kind: numbers ? 'memberNumber' : 'memberText' } };
    if (numbers) return fail('right.value', `must hold strings to match ${label(left)}`);
    if (lt.kind === 'flags') return { domain: { kind: 'intersect' } };
    const errs = checkNames('right', right, namesOf(lt));
    return errs.length ? { errors: errs } : { domain: { kind: 'memberText' } };
  }

  // contains
  if (rt.kind !== 'string' && rt.kind !== 'level' && rt.kind !== 'any') {
    return fail('value' in right ? 'right.value' : 'right', `contains needs text on the right, and ${label(right)} is ${KIND_WORD[rt.kind]}`);
  }
  if (lt.kind === 'flags') return { domain: { kind: 'arrayContains' } };
  if (lt.kind === 'string' || lt.kind === 'level') return { domain: { kind: 'substring' } };
  if (lt.kind === 'any') return { domain: { kind: 'containsDynamic' } };
  const hint = lt.kind === 'array' ? '; to test a field against an array use in' : '';
  return fail('value' in left ? 'left.value' : 'left', `contains needs text, flags or an attribute on the left, and ${label(left)} is ${KIND_WORD[lt.kind]}${hint}`);
}
