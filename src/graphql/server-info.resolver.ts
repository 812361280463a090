import { Field, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { Public } from '../access/public.decorator';
import { appVersion } from '../config/app-version';

@ObjectType({ description: 'What this server is; safe to show anyone' })
export class ServerInfo {
  @Field({ description: 'Semantic version of the running build' })
  version!: string;

  @Field({ description: 'Server clock, for diagnosing client clock drift (TOTP codes depend on it)' })
  time!: Date;
}

@Resolver(() => ServerInfo)
export class ServerInfoResolver {
  @Public()
  @Query(() => ServerInfo)
  serverInfo(): ServerInfo {
    return { version: appVersion(), time: new Date() };
  }
}
