import { Global, Module } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { createNotifyTransport, NotifyTransport } from './notify-transport';

/**
 * The one `NotifyTransport` of the process, chosen by `NOTIFY_TRANSPORT`; global so that verification
 * (customer codes) and monitoring (notices to account managers) send through the same mechanism.
 */
@Global()
@Module({
  providers: [
    {
      provide: NotifyTransport,
      useFactory: (config: AppConfig) => createNotifyTransport(config.notifyTransport, { production: config.isProduction, tokenKey: config.keys.token }),
      inject: [APP_CONFIG],
    },
  ],
  exports: [NotifyTransport],
})
export class NotifyModule {}
