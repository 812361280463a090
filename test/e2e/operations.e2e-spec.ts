import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../helpers/app';

describe('operations endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('reports liveness', async () => {
    const res = await t.http().get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('reports readiness: database up and migrations applied', async () => {
    const res = await t.http().get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', database: 'up', migrations: 'applied' });
  });

  it('exposes Prometheus metrics with GraphQL latency by operation name', async () => {
    await t.gql('query ServerProbe { serverInfo { version } }');
    const res = await t.http().get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toMatch(/custos_graphql_operation_duration_seconds_count\{operation="ServerProbe",type="query",outcome="ok"\} 1/);
    expect(res.text).toMatch(/custos_http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\}/);
  });
});

describe('readiness when the database is gone', () => {
  it('answers 503', async () => {
    const t = await startTestApp();
    try {
      await t.app.get(require('typeorm').DataSource).destroy();
      const res = await t.http().get('/health/ready');
      expect(res.status).toBe(503);
      expect(res.body.database).toBe('down');
    } finally {
      await t.db.drop();
      await t.app.close().catch(() => undefined);
    }
  });
});

describe('production start-up', () => {
  it('refuses to start without required secrets, with a one-line reason', () => {
    const root = join(__dirname, '..', '..');
    const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Custos cannot start: production mode requires PII_KEYS, BLIND_INDEX_KEY, TOKEN_SECRET, AUDIT_CHAIN_KEY$/);
  });
});
