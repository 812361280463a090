import type { IncomingHttpHeaders } from 'node:http';

/** One value of a request header, or undefined; a repeated header (an array) is not taken as any one of its values. */
export function headerOf(req: { headers?: IncomingHttpHeaders }, name: string): string | undefined {
  const value = req.headers?.[name];
  return typeof value === 'string' ? value : undefined;
}
