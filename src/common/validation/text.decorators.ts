import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, MaxLength, NotContains } from 'class-validator';

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
    // PostgreSQL's text cannot hold a NUL: refused here by name rather than failing the statement.
    NotContains('\u0000', { message: 'x must not contain NUL characters' }),
  );
}
