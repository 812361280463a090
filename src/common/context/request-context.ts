import { Injectable } from '@nestjs/common';
import { ClsService } from 'nestjs-cls';
import { UnauthenticatedError } from '../errors/app-error';
import type { Principal, StaffPrincipal } from './principal';

/** Who is asking and from where, for the current request (or job); set once by the guard. */
interface ContextStore {
  principal?: Principal;
  ip?: string;
  userAgent?: string;
  ability?: unknown;
}

const KEY = 'custos.request';

/**
 * Typed access to the per-request context that nestjs-cls carries through async calls: services and the
 * audit writer read the actor, IP and request id from here instead of threading them through every call.
 */
@Injectable()
export class RequestContext {
  constructor(private readonly cls: ClsService) {}

  private store(): ContextStore {
    if (!this.cls.isActive()) return {};
    let store = this.cls.get<ContextStore>(KEY);
    if (!store) {
      store = {};
      this.cls.set(KEY, store);
    }
    return store;
  }

  get requestId(): string | undefined {
    return this.cls.isActive() ? this.cls.getId() : undefined;
  }

  get principal(): Principal | undefined {
    return this.store().principal;
  }

  set principal(principal: Principal | undefined) {
    this.store().principal = principal;
  }

  /** The principal of an operation that needs one (the guard has already refused anonymous callers). */
  requirePrincipal(): Principal {
    const principal = this.store().principal;
    if (!principal) throw new UnauthenticatedError();
    return principal;
  }

  /** The staff principal of a staff-only operation. */
  requireStaff(): StaffPrincipal {
    const principal = this.store().principal;
    if (principal?.kind !== 'USER') throw new UnauthenticatedError();
    return principal;
  }

  get ip(): string | undefined {
    return this.store().ip;
  }

  get userAgent(): string | undefined {
    return this.store().userAgent;
  }

  setClient(ip: string | undefined, userAgent: string | undefined): void {
    const store = this.store();
    store.ip = ip;
    store.userAgent = userAgent?.slice(0, 512);
  }

  getAbility<T>(): T | undefined {
    return this.store().ability as T | undefined;
  }

  /** The ability of an operation that needs one (the guard sets it for every authenticated caller). */
  requireAbility<T>(): T {
    const ability = this.store().ability as T | undefined;
    if (!ability) throw new UnauthenticatedError();
    return ability;
  }

  setAbility(ability: unknown): void {
    this.store().ability = ability;
  }
}
