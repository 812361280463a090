import { Injectable } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import { DataSource, type EntityManager } from 'typeorm';

const TX_KEY = 'custos.tx';

/**
 * Multi-step writes run inside `run()`: one database transaction whose EntityManager rides in the request
 * context, so a nested `run()` (or any service calling `manager()`) joins it instead of opening another.
 */
@Injectable()
export class TransactionService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly cls: ClsService,
  ) {}

  /** The transaction-bound manager when inside `run()`, else the default one. */
  manager(): EntityManager {
    return (this.cls.isActive() && this.cls.get<EntityManager>(TX_KEY)) || this.dataSource.manager;
  }

  async run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const current = this.cls.isActive() ? this.cls.get<EntityManager>(TX_KEY) : undefined;
    if (current) return work(current);
    const execute = () =>
      this.dataSource.transaction(async (manager) => {
        this.cls.set(TX_KEY, manager);
        try {
          return await work(manager);
        } finally {
          this.cls.set(TX_KEY, undefined);
        }
      });
    // Outside a request (jobs, start-up) open a context of our own for the duration of the transaction.
    return this.cls.isActive() ? execute() : this.cls.run(execute);
  }
}
