import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { appDataSourceOptions, type ServerProtocolOptions } from './data-source-options';
import { TransactionService } from './transaction.service';

@Global()
@Module({})
export class DatabaseModule {
  /**
   * `url` is resolved before the app is built: DATABASE_URL, or the embedded server's address.
   * `protocol`: pipelined transaction boundaries and named statements (a real PostgreSQL server only, never PGlite).
   */
  static forRoot(url: string, protocol: ServerProtocolOptions): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [TypeOrmModule.forRoot({ ...appDataSourceOptions(url, protocol), autoLoadEntities: true })],
      providers: [TransactionService],
      exports: [TransactionService],
    };
  }
}
