import { Args, Context, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import DataLoader from 'dataloader';
import { Policy } from '../../../access/policy.decorator';
import { requestLoader } from '../../../common/context/request-loaders';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { CreateWatchlistInput, UpdateWatchlistEntriesInput, WatchlistConnection, WatchlistEntryConnection, WatchlistModel, type WatchlistEntryModel } from './watchlist.model';
import { WatchlistsService } from './watchlists.service';

type Ctx = { req: object };
type EntryPage = Omit<ConnectionShape<WatchlistEntryModel>, 'totalCount'>;

/** Watchlists (COMPLIANCE_OFFICER): reads and writes; `Watchlist.entries` is batched across a page of lists. */
@Resolver(() => WatchlistModel)
export class WatchlistsResolver {
  constructor(private readonly service: WatchlistsService) {}

  @Policy('read', 'Watchlist')
  @Query(() => WatchlistConnection, { description: 'By code' })
  watchlists(@Args() page: PageArgs): Promise<ConnectionShape<WatchlistModel>> {
    return this.service.list(page);
  }

  @Policy('read', 'Watchlist')
  @Query(() => WatchlistModel, { nullable: true })
  watchlist(@Args('code') code: string): Promise<WatchlistModel> {
    return this.service.get(code);
  }

  @Policy('manage', 'Watchlist')
  @Mutation(() => WatchlistModel, { description: 'CONFLICT when the code exists' })
  createWatchlist(@Args('input') input: CreateWatchlistInput): Promise<WatchlistModel> {
    return this.service.create(input);
  }

  @Policy('manage', 'Watchlist')
  @Mutation(() => WatchlistModel, { description: 'Adds and removes values; ones already present (or absent) are ignored. Rules see the change within a second on every instance' })
  updateWatchlistEntries(@Args('input') input: UpdateWatchlistEntriesInput): Promise<WatchlistModel> {
    return this.service.updateEntries(input);
  }

  @ResolveField(() => WatchlistEntryConnection, { description: 'In value order' })
  async entries(@Parent() list: WatchlistModel, @Args() page: PageArgs, @Context() ctx: Ctx): Promise<ConnectionShape<WatchlistEntryModel>> {
    const loader = requestLoader(ctx.req, `watchlistEntries:${page.first}:${page.after}`, () =>
      new DataLoader<string, EntryPage>(async (ids) => {
        const pages = await this.service.entryPages(ids, page);
        return ids.map((id) => pages.get(id)!);
      }),
    );
    return { ...(await loader.load(list.id)), totalCount: list.entryCount };
  }
}
