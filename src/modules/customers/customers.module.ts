import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CustomerHistoryService } from './customer-history.service';
import { CustomerIdentityService } from './customer-identity.service';
import { CustomerPii } from './customer-pii';
import { CustomerRecordsService } from './customer-records.service';
import { CustomersResolver } from './customers.resolver';
import { CustomersService } from './customers.service';
import { CustomerEntity } from './entities/customer.entity';

/** Customer profiles with encrypted PII, consent and erasure. Other modules use CustomersService (and verification CustomerIdentityService). */
@Module({
  imports: [TypeOrmModule.forFeature([CustomerEntity])],
  providers: [CustomerPii, CustomersService, CustomerRecordsService, CustomerHistoryService, CustomerIdentityService, CustomersResolver],
  exports: [CustomersService, CustomerIdentityService],
})
export class CustomersModule {}
