import 'reflect-metadata';
import type { FieldError } from '../errors/app-error';

const NOT_CLEARABLE = Symbol('notClearable');

/**
 * An optional field of an update input that can never be empty (a name, a role, an externalRef): left out,
 * the value is kept; `null` is BAD_USER_INPUT at the field (InputValidationPipe). Without it, `@IsOptional()`
 * lets null through and the service, finding nothing to apply, would answer as if the change had been made.
 */
export function NotClearable(): PropertyDecorator {
  return (target, property) => {
    const own: string[] = Reflect.getMetadata(NOT_CLEARABLE, target) ?? [];
    Reflect.defineMetadata(NOT_CLEARABLE, [...own, String(property)], target);
  };
}

/** The not-clearable fields of an input instance that were sent as null. */
export function clearedFields(instance: object): FieldError[] {
  const fields: string[] = Reflect.getMetadata(NOT_CLEARABLE, Object.getPrototypeOf(instance)) ?? [];
  return fields
    .filter((field) => (instance as Record<string, unknown>)[field] === null)
    .map((path) => ({ path, message: 'cannot be null: leave it out to keep the current value' }));
}
