import { Global, Module } from '@nestjs/common';
import { PiiVault } from './pii-vault.service';

/** PII encryption for every module; global because customers, identity, complaints and cases all need it. */
@Global()
@Module({
  providers: [PiiVault],
  exports: [PiiVault],
})
export class CryptoModule {}
