import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Authenticated } from '../../../access/policy.decorator';
import { PageArgs, type ConnectionShape } from '../../../common/pagination/connection';
import { NotificationConnection, NotificationModel } from '../models/alert.model';
import { NotificationsService } from './notifications.service';

@Resolver(() => NotificationModel)
export class NotificationsResolver {
  constructor(private readonly notifications: NotificationsService) {}

  @Authenticated('USER')
  @Query(() => NotificationConnection, { description: 'The signed-in user\'s own notifications, newest first' })
  myNotifications(@Args('unreadOnly', { nullable: true, defaultValue: false }) unreadOnly: boolean, @Args() page: PageArgs): Promise<ConnectionShape<NotificationModel>> {
    return this.notifications.mine(unreadOnly, page);
  }

  @Authenticated('USER')
  @Mutation(() => NotificationModel)
  markNotificationRead(@Args('id', { type: () => ID }) id: string): Promise<NotificationModel> {
    return this.notifications.markRead(id);
  }
}
