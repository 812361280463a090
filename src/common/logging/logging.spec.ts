import { Writable } from 'node:stream';
import pino from 'pino';
import { redactPaths } from './logging';

describe('log redaction', () => {
  it('removes secrets and PII at the top level and one level down', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const log = pino({ redact: { paths: redactPaths(), censor: '[REDACTED]' } }, sink);
    log.info({ email: 'marker@example.com', input: { password: 'hunter2hunter2', nationalId: 'X1234567' }, req: { headers: { authorization: 'Bearer abc' } } }, 'event');
    const out = lines.join('');
    expect(out).not.toMatch(/marker@example\.com|hunter2|X1234567|Bearer abc/);
    expect(out).toContain('[REDACTED]');
  });
});
