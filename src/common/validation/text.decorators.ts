import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength, NotContains } from 'class-validator';

/**
 * PostgreSQL cannot store a NUL character, in text or in jsonb: text holding one is refused by name, where it
 * is checked, rather than failing the statement (graphql/format-error.ts maps a refusal that slips through).
 */
export const NUL = '\u0000';
export const NUL_MESSAGE = 'must not contain NUL characters';

/**
 * Text inputs are trimmed, must be non-empty after trimming and within `max` characters (SPEC §8 Inputs).
 * Messages read after the field name: "must not be empty", "must be at most 100 characters".
 */
export function Text(max: number, options: { optional?: boolean } = {}): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? value.trim() : value)),
    ...(options.optional ? [IsOptional()] : []),
    IsString({ message: 'x must be a string' }),
    IsNotEmpty({ message: 'x must not be empty' }),
    MaxLength(max, { message: `x must be at most ${max} characters` }),
    NotContains(NUL, { message: `x ${NUL_MESSAGE}` }),
  );
}
