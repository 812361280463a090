import { Writable } from 'node:stream';
import pino from 'pino';
import { loggableError, redactPaths } from './logging';

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

  it('reaches two levels down and the new secret-bearing keys', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const log = pino({ redact: { paths: redactPaths(), censor: '[REDACTED]' } }, sink);
    log.info({ ctx: { partner: { contactEmail: 'ops@marker.test' }, user: { otpauthUri: 'otpauth://totp/x?secret=MARKERSECRET' } }, complaint: { notes: 'marker note' } }, 'event');
    expect(lines.join('')).not.toMatch(/ops@marker|MARKERSECRET|marker note/);
  });
});

describe('loggableError', () => {
  it('keeps type, message, code and stack of a failed query, and drops its parameters and detail', () => {
    const failed = Object.assign(new Error('duplicate key value violates unique constraint "customer_email_bidx"'), {
      name: 'QueryFailedError',
      query: 'INSERT INTO customer (email_enc) VALUES ($1)',
      parameters: ['marker@example.com'],
      driverError: { code: '23505', detail: 'Key (email)=(marker@example.com) already exists.' },
    });
    const logged = loggableError(failed);
    expect(logged).toMatchObject({ type: 'QueryFailedError', sqlState: '23505', message: expect.stringContaining('duplicate key') });
    expect(JSON.stringify(logged)).not.toContain('marker@example.com');
    expect(JSON.stringify(logged)).not.toContain('INSERT INTO');
  });

  it('keeps the database code readable once the logger has redacted the line', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const log = pino({ redact: { paths: redactPaths(), censor: '[REDACTED]' } }, sink);
    log.error({ err: loggableError(Object.assign(new Error('canceling statement due to statement timeout'), { driverError: { code: '57014' } })) }, 'failed');
    expect(JSON.parse(lines.join('')).err).toMatchObject({ sqlState: '57014', message: 'canceling statement due to statement timeout' });
  });

  it('describes a thrown non-error without trusting it', () => {
    expect(loggableError('boom')).toEqual({ type: 'string', message: 'boom' });
  });
});
