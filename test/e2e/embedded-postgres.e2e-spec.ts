import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testSecrets } from '../helpers/app';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/**
 * The `npm start` path with no DATABASE_URL, in a real child process (PGlite loads WebAssembly through
 * dynamic imports that jest's sandbox cannot host, and this is how users run it anyway).
 */
describe('embedded PostgreSQL (no DATABASE_URL)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'custos-pglite-'));
  let child: ChildProcess;
  let output = '';
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: { PATH: process.env.PATH, NODE_ENV: 'development', PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...testSecrets() },
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 110_000;
    while (!output.includes('listening on')) {
      if (child.exitCode !== null) throw new Error(`exited early: ${output}`);
      if (Date.now() > deadline) throw new Error(`no start within 110 s: ${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 120_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps concurrent parameterised statements of different connections apart, large ones included', () => {
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'test/helpers/embedded-concurrency.ts'], {
      cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH },
    });
    // Before statements were kept whole, a large statement split across packets let another connection's
    // Parse take the unnamed statement: "bind message supplies 2 parameters, but prepared statement "" requires 1".
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ errors: [], errorCount: 0, wrong: 0 });
  }, 150_000);

  it('starts PGlite, applies migrations and answers GraphQL', async () => {
    expect(output).toContain('starting embedded PostgreSQL (PGlite)');
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    const ready = await fetch(`${base}/health/ready`);
    expect(await ready.json()).toEqual({ status: 'ok', database: 'up', migrations: 'applied' });
  });

  it('shuts down gracefully on SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // A request the server has accepted but not yet fully received when the signal arrives.
    // A sign-in attempt needs the database and the audit writer: both must outlive the request.
    const body = JSON.stringify({ query: 'mutation { login(input: {email: "nobody@custos.test", password: "not-the-password-2026"}) { challengeToken } }' });
    const { port } = new URL(base);
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'apollo-require-preflight': 'true' };
      const req = request({ host: '127.0.0.1', port: Number(port), method: 'POST', path: '/graphql', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 5));
      req.once('socket', (socket) => socket.once('connect', () => {
        setTimeout(() => {
          child.kill('SIGTERM');
          // Once the server has stopped listening, the rest of the body still gets its answer.
          setTimeout(() => req.end(body.slice(5)), 3_000);
        }, 300);
      }));
    });
    const res = await answered;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED', reason: 'INVALID_CREDENTIALS' }) })]);
    // New connections are refused by then.
    await expect(fetch(`${base}/health/live`)).rejects.toThrow();
    expect(await exited).toBe(0);
  });
});
