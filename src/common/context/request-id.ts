import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { headerOf } from '../http/headers';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller-supplied id is logged only when it is short and harmless, so it cannot inject into logs. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The raw request as the HTTP server, the request log and the request context see it. */
export interface RequestWithId extends IncomingMessage {
  id: string;
  /** The caller's own safe `x-request-id`, for correlating with its logs; never used as our id. */
  clientRequestId?: string;
}

/**
 * Mints the id of every request, before any hook or middleware runs (the HTTP server's `genReqId`); the
 * response echoes it. Logs, audit entries and error reports all use this id, and audit counts on it (one
 * denial per request, DENIED_BURST): a caller who could choose it could make many requests look like one.
 * A safe incoming `x-request-id` is kept beside it, in the request log line, as `clientRequestId`.
 */
export function mintRequestId(raw: IncomingMessage): string {
  const withId = raw as RequestWithId;
  withId.id = randomUUID();
  const incoming = headerOf(raw, REQUEST_ID_HEADER);
  if (incoming && SAFE_REQUEST_ID.test(incoming)) withId.clientRequestId = incoming;
  return withId.id;
}
