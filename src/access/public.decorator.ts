import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'custos:public';

/** Marks an operation or controller as reachable without a principal. Everything else is denied by default. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
