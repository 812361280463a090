import { Field, Float, ID, InputType } from '@nestjs/graphql';
import { IsEnum, IsOptional, IsString, IsUUID, Matches, Max, Min, ValidateBy } from 'class-validator';
import { Text } from '../../../common/validation/text.decorators';
import { ExternalMethod, OtpMethod, VerificationResult } from '../models/verification.enums';

const ID_MESSAGE = 'x must be an id';
/** A provider's id of a check: an identifier, never a document or an image (no data URIs, no base64 blobs). */
const REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._:\/-]{0,199}$/;

@InputType()
export class StartCustomerVerificationInput {
  @Field(() => ID) @IsUUID('all', { message: ID_MESSAGE }) customerId!: string;
  @Field(() => OtpMethod) @IsEnum(OtpMethod) method!: OtpMethod;
}

@InputType()
export class CompleteCustomerVerificationInput {
  @Field(() => ID) @IsUUID('all', { message: ID_MESSAGE }) verificationId!: string;
  @Field({ description: 'The 6-digit code the customer received' })
  @IsString({ message: 'x must be a string' }) @Matches(/^\s*\d{6}\s*$/, { message: 'x must be 6 digits' })
  code!: string;
}

/**
 * A finite number with at most 3 decimal places. class-validator's `maxDecimalPlaces` reads them from the
 * number's text, which throws for one it writes in exponent form (`1e-7`). Rounding to 3 places must give
 * the number back.
 */
const AtMostThreeDecimals = (): PropertyDecorator =>
  ValidateBy({
    name: 'atMostThreeDecimals',
    validator: {
      validate: (v: unknown) => typeof v === 'number' && Number.isFinite(v) && Number(v.toFixed(3)) === v,
      defaultMessage: () => 'x must be a number with at most 3 decimal places',
    },
  });

@InputType()
export class RecordVerificationResultInput {
  @Field(() => ID) @IsUUID('all', { message: ID_MESSAGE }) customerId!: string;
  @Field(() => ExternalMethod) @IsEnum(ExternalMethod) method!: ExternalMethod;
  @Field() @Text(100) provider!: string;
  @Field(() => VerificationResult) @IsEnum(VerificationResult) result!: VerificationResult;
  @Field(() => Float, { nullable: true, description: '0–100' })
  @IsOptional() @AtMostThreeDecimals()
  @Min(0, { message: 'x must be between 0 and 100' }) @Max(100, { message: 'x must be between 0 and 100' })
  score?: number;
  @Field({ nullable: true, description: 'The provider\'s id of the check (letters, digits, . _ : / -; at most 200) — never a document or an image' })
  @IsOptional() @IsString({ message: 'x must be a string' }) @Matches(REFERENCE, { message: 'x must be the provider\'s id of the check (letters, digits, . _ : / -; at most 200 characters)' })
  reference?: string;
}
