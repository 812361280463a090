import { Injectable } from '@nestjs/common';
import DataLoader from 'dataloader';
import { requestLoader } from '../../common/context/request-loaders';
import { loadBatchedConnections } from '../../common/pagination/batched-connection';
import type { ConnectionShape, PageArgs } from '../../common/pagination/connection';
import { TransactionService } from '../../database/transaction.service';
import type { ConsentModel, ProfileChangeModel } from './models/customer.model';

type ConsentRow = { id: string; customer_id: string; purpose: string; granted: boolean; recorded_at: Date };
type ChangeRow = { id: string; customer_id: string; fields: string[]; actor_type: string; actor_id: string | null; changed_at: Date };

/**
 * Per-customer histories (consents, profile changes) as connections, batched: a page of customers showing
 * their consents costs two statements, not two per customer. The parent customer is already in scope.
 */
@Injectable()
export class CustomerHistoryService {
  constructor(private readonly tx: TransactionService) {}

  consents(req: object, customerId: string, page: PageArgs): Promise<ConnectionShape<ConsentModel>> {
    const loader = requestLoader(req, `consents:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<ConsentModel>>(async (ids) => {
        return loadBatchedConnections<ConsentRow, ConsentModel>(
          this.tx.manager(), { table: 'customer_consent', parentColumn: 'customer_id', orderColumn: 'recorded_at', orderKind: 'timestamptz' }, ids, page,
          (r) => ({ id: r.id, customerId: r.customer_id, purpose: r.purpose, granted: r.granted, recordedAt: r.recorded_at }),
        );
      }),
    );
    return loader.load(customerId);
  }

  profileChanges(req: object, customerId: string, page: PageArgs): Promise<ConnectionShape<ProfileChangeModel>> {
    const loader = requestLoader(req, `profileChanges:${page.first}:${page.after}`, () =>
      new DataLoader<string, ConnectionShape<ProfileChangeModel>>(async (ids) => {
        return loadBatchedConnections<ChangeRow, ProfileChangeModel>(
          this.tx.manager(), { table: 'customer_profile_change', parentColumn: 'customer_id', orderColumn: 'changed_at', orderKind: 'timestamptz' }, ids, page,
          (r) => ({ id: r.id, fields: r.fields, actorType: r.actor_type, actorId: r.actor_id, changedAt: r.changed_at }),
        );
      }),
    );
    return loader.load(customerId);
  }
}
