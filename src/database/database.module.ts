import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { dataSourceOptions } from './data-source-options';
import { TransactionService } from './transaction.service';

@Global()
@Module({})
export class DatabaseModule {
  /** `url` is resolved before the app is built: DATABASE_URL, or the embedded server's address. */
  static forRoot(url: string): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(url), autoLoadEntities: true })],
      providers: [TransactionService],
      exports: [TransactionService],
    };
  }
}
