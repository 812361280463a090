import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller-supplied id is logged only when it is short and harmless, so it cannot inject into logs. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestWithId extends Request {
  id: string;
  /** The caller's own safe `x-request-id`, for correlating with its logs; never used as our id. */
  clientRequestId?: string;
}

/**
 * First middleware of every request: mints the request id and echoes it on the response. Logs, audit
 * entries and error reports all use this id, and audit counts on it (one denial per request, DENIED_BURST):
 * a caller who could choose it could make many requests look like one. A safe incoming `x-request-id` is
 * kept beside it, in the request log line, as `clientRequestId`.
 */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.header(REQUEST_ID_HEADER);
  const withId = req as RequestWithId;
  withId.id = randomUUID();
  if (incoming && SAFE_REQUEST_ID.test(incoming)) withId.clientRequestId = incoming;
  res.setHeader(REQUEST_ID_HEADER, withId.id);
  next();
}
