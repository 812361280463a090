import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { isEmail, IsNotEmpty, IsOptional, IsString, MaxLength, ValidateBy } from 'class-validator';

/**
 * Text PostgreSQL cannot store: a NUL character (in text or in jsonb), or a lone UTF-16 surrogate — valid in
 * a JSON request, but jsonb refuses its escape, so it would fail a whole statement (an ingest batch, an audit
 * entry). Such text is refused by name where it is checked; graphql/format-error.ts maps a refusal that
 * slips through.
 */
const NUL = '\u0000';
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/** Whether PostgreSQL can store this text (see above). `isWellFormed` is ES2024: in Node 20, not in our TS lib. */
export const isStorableText = (s: string): boolean => !s.includes(NUL) && (s as unknown as { isWellFormed(): boolean }).isWellFormed();

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
    ValidateBy({ name: 'isStorableText', validator: { validate: (v: unknown) => typeof v !== 'string' || isStorableText(v), defaultMessage: () => `x ${UNSTORABLE_TEXT_MESSAGE}` } }),
  );
}

/**
 * An e-mail address. Storable text is checked first: validator's `isEmail` throws (URIError) on a lone
 * surrogate, which would answer a typing mistake with an internal error.
 */
export function EmailAddress(): PropertyDecorator {
  return ValidateBy({
    name: 'isEmailAddress',
    validator: { validate: (v: unknown) => typeof v === 'string' && isStorableText(v) && isEmail(v), defaultMessage: () => 'x must be a valid e-mail address' },
  });
}
