import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { BadUserInputError, type FieldError } from '../errors/app-error';
import { inputShapeError } from './nesting';
import { clearedFields } from './not-clearable';

/** Flattens class-validator's tree into `{path, message}` with dotted paths from the input root. */
export function toFieldErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  return errors.flatMap((error) => {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ path, message: message.replace(/^\S+ /, '') }));
    return [...own, ...toFieldErrors(error.children ?? [], path)];
  });
}

/**
 * Note for resolvers: declare input parameters with their class type (`filter: UsersFilter`, not
 * `UsersFilter | undefined`), or TypeScript records `Object` as the design type and nothing is validated.
 *
 * Validates every input object (class-validator decorators on the `*Input` classes) after the guard has
 * authorised the operation, and turns failures into one BAD_USER_INPUT with per-field messages.
 */
@Injectable()
export class InputValidationPipe implements PipeTransform {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const type = metadata.metatype;
    if (!type || value === null || value === undefined || typeof value !== 'object' || [Object, Array].includes(type as never)) {
      return value;
    }
    const shape = inputShapeError(value);
    if (shape) throw BadUserInputError.field(shape.key, shape.message);
    const instance = plainToInstance(type, value) as object;
    const errors = await validate(instance, { forbidUnknownValues: false });
    const cleared = clearedFields(instance);
    if (errors.length || cleared.length) {
      const fieldErrors = [...cleared, ...toFieldErrors(errors)];
      throw new BadUserInputError(`Invalid input: ${fieldErrors.map((e) => `${e.path} ${e.message}`).join('; ')}`, fieldErrors);
    }
    return instance;
  }
}
