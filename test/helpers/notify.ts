import { readFile } from 'node:fs/promises';
import type { TestApp } from './app';

export interface SentMessage {
  at: string;
  channel: 'SMS' | 'EMAIL' | 'NOTICE';
  to: string;
  subject: string | null;
  body: string;
  sensitive: boolean;
  reference: string | null;
}

/** What the app has sent through its `file:` NOTIFY_TRANSPORT so far (test apps always use one). */
export async function sentMessages(t: TestApp): Promise<SentMessage[]> {
  const spec = t.config.notifyTransport;
  if (!spec.startsWith('file:')) throw new Error(`test app sends through ${spec}, not a file`);
  const text = await readFile(spec.slice('file:'.length), 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)));
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as SentMessage);
}
