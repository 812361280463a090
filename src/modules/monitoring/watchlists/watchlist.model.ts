import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';
import { ArrayMaxSize, IsOptional, Matches } from 'class-validator';
import { Connection } from '../../../common/pagination/connection';
import { Text } from '../../../common/validation/text.decorators';
import { MAX_ENTRIES_PER_CALL } from './watchlist-entries';

const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const CODE_MESSAGE = 'x must be UPPER_SNAKE_CASE, 2–64 characters';
const TOO_MANY = `x must hold at most ${MAX_ENTRIES_PER_CALL} entries`;

/** A named list of values (counterparty refs, say) that rule conditions read with `{"list": "<code>"}`. */
@ObjectType('Watchlist')
export class WatchlistModel {
  @Field(() => ID) id!: string;
  @Field({ description: 'What rule conditions name in `{"list": code}`' }) code!: string;
  @Field() name!: string;
  @Field(() => Int) entryCount!: number;
  @Field() createdAt!: Date;
  @Field({ description: 'Moves on every change of the list or its entries' }) updatedAt!: Date;
}
export const WatchlistConnection = Connection(WatchlistModel, 'WatchlistConnection');

@ObjectType('WatchlistEntry')
export class WatchlistEntryModel {
  @Field() value!: string;
}
export const WatchlistEntryConnection = Connection(WatchlistEntryModel, 'WatchlistEntryConnection');

@InputType()
export class CreateWatchlistInput {
  @Field() @Matches(CODE, { message: CODE_MESSAGE }) code!: string;
  @Field() @Text(200) name!: string;
  @Field(() => [String], { nullable: true, description: `Trimmed; 1–200 characters each; duplicates ignored; at most ${MAX_ENTRIES_PER_CALL}` })
  @IsOptional() @ArrayMaxSize(MAX_ENTRIES_PER_CALL, { message: TOO_MANY })
  entries?: string[];
}

@InputType()
export class UpdateWatchlistEntriesInput {
  @Field() @Matches(CODE, { message: CODE_MESSAGE }) code!: string;
  @Field(() => [String], { nullable: true, description: 'Values to add; ones already on the list are ignored' })
  @IsOptional() @ArrayMaxSize(MAX_ENTRIES_PER_CALL, { message: TOO_MANY })
  add?: string[];
  @Field(() => [String], { nullable: true, description: 'Values to remove; ones not on the list are ignored' })
  @IsOptional() @ArrayMaxSize(MAX_ENTRIES_PER_CALL, { message: TOO_MANY })
  remove?: string[];
}
