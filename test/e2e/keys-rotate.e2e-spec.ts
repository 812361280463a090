import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp, initApp } from '../../src/app.factory';
import { KeyVersionMissingError } from '../../src/common/crypto/crypto.errors';
import { dataKeyOwner, wrapDataKey } from '../../src/common/crypto/envelope';
import { KeyRing } from '../../src/common/crypto/key-ring';
import { PiiVault } from '../../src/common/crypto/pii-vault.service';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { dataSourceOptions } from '../../src/database/data-source-options';
import { rotateDataKeys, type RotationProgress } from '../../src/keys/rotate-data-keys';
import { randomIp, startTestApp, TEST_ADMIN, testSecrets, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signIn, signInAdmin, type SignedIn } from '../helpers/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres';

const key = () => randomBytes(32).toString('base64');
const CREATE = 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }';
const READ = 'query($id: ID!) { customer(id: $id) { fullName email phone } }';

/** Secrets shared by every configuration of one database; only PII_KEYS / PII_ACTIVE_KEY vary. */
function secretsWith(shared: Record<string, string>, piiKeys: string, active?: string): Record<string, string> {
  return { ...shared, PII_KEYS: piiKeys, ...(active ? { PII_ACTIVE_KEY: active } : {}) };
}

function vaultFor(shared: Record<string, string>, piiKeys: string, active?: string): PiiVault {
  const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: '/tmp/custos-keys-rotate-spec', ...secretsWith(shared, piiKeys, active) });
  return new PiiVault(config);
}

function rawDataSource(url: string): DataSource {
  return new DataSource(dataSourceOptions(url, { entities: [], migrations: [], extra: { max: 2 } }));
}

/** The real app on an existing database (startTestApp always clones a fresh one). */
async function appOn(db: TestDatabase, config: AppConfig): Promise<TestApp> {
  const app: INestApplication = await createApp(config, db.url);
  await initApp(app);
  const http = () => request(app.getHttpServer());
  return {
    app,
    config,
    db,
    http,
    async gql(query, variables, options = {}) {
      const req = http().post('/graphql').set('content-type', 'application/json');
      if (options.token) req.set('authorization', `Bearer ${options.token}`);
      req.set('x-forwarded-for', options.ip ?? randomIp());
      const res = await req.send({ query, variables });
      const body = res.body as { data?: never; errors?: never };
      return { status: res.status, headers: res.headers as Record<string, string>, data: body?.data, errors: body?.errors, body: res.body };
    },
    close: () => app.close(),
  };
}

describe('keys:rotate: every data key moves to the active KEK, resumably, and everything still decrypts', () => {
  const v1 = key();
  const v2 = key();
  const { PII_KEYS: _unused, ...shared } = testSecrets();
  let t: TestApp;
  let sql: Client;
  let dataSource: DataSource;
  let admin: SignedIn, agent: SignedIn, co: SignedIn, reader: SignedIn;
  const customers: Array<{ id: string; fullName: string; email: string; phone: string }> = [];
  let erasedId: string;
  const rotatingVault = () => vaultFor(shared, `v1:${v1},v2:${v2}`);

  const versions = async (table: 'customer' | 'app_user') =>
    Object.fromEntries(
      (await sql.query(`SELECT split_part(data_key, ':', 1) AS v, count(*)::int AS n FROM ${table} WHERE data_key IS NOT NULL GROUP BY 1`)).rows.map((r) => [r.v, r.n]),
    );

  beforeAll(async () => {
    t = await startTestApp(secretsWith(shared, `v1:${v1}`));
    sql = new Client({ connectionString: t.db.url });
    await sql.connect();
    admin = await signInAdmin(t);
    agent = await createStaff(t, admin, 'AGENT');
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    reader = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    for (let n = 1; n <= 7; n++) {
      const input = { externalRef: `rot-${n}`, fullName: `Rotation Person${n}`, email: `rotation${n}@example.test`, phone: `+4420794609${String(10 + n)}` };
      const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(t.gql, CREATE, { i: input }, agent.accessToken);
      const { customer } = await gqlOk<{ customer: { fullName: string; email: string; phone: string } }>(t.gql, READ, { id: createCustomer.id }, co.accessToken);
      customers.push({ id: createCustomer.id, ...customer });
    }
    expect(customers[0]).toEqual({ id: expect.any(String), fullName: 'Rotation Person1', email: 'rotation1@example.test', phone: '+442079460911' });
    // One erased customer: no key any more, nothing to rotate.
    const { createCustomer: doomed } = await gqlOk<{ createCustomer: { id: string } }>(t.gql, CREATE, { i: { externalRef: 'rot-erased', fullName: 'Gone Person' } }, agent.accessToken);
    erasedId = doomed.id;
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(co.secret) }, co.accessToken);
    await gqlOk(t.gql, 'mutation($id: ID!) { eraseCustomer(id: $id, reason: "test") { id } }', { id: erasedId }, co.accessToken);
    // Rotation happens after the app was rolled to the new ring; the v1-only app is gone.
    await t.app.close();
    dataSource = rawDataSource(t.db.url);
    await dataSource.initialize();
  }, 120_000);

  afterAll(async () => {
    await dataSource?.destroy();
    await sql?.end();
    await t?.db.drop();
  });

  it('starts with every key under v1', async () => {
    expect(await versions('customer')).toEqual({ v1: 7 });
    expect(await versions('app_user')).toEqual({ v1: 4 });
    expect((await sql.query('SELECT data_key FROM customer WHERE id = $1', [erasedId])).rows[0].data_key).toBeNull();
  });

  it('stops cleanly after the first batch when asked, then resumes with only what is left', async () => {
    const vault = rotatingVault();
    expect(vault.activeKeyVersion).toBe('v2'); // default: the highest configured version
    const progress: RotationProgress[] = [];
    const first = await rotateDataKeys(dataSource, vault, {
      batchSize: 2,
      onProgress: (p) => progress.push(p),
      shouldStop: () => progress.some((p) => p.batches >= 1),
    });
    expect(first).toMatchObject({ active: 'v2', stopped: true, complete: false, rewrapped: 2, skipped: 0, failed: 0, remaining: 9 });
    expect(progress.map((p) => [p.done, p.total])).toEqual([[0, 11], [2, 11]]);
    expect(await versions('customer')).toEqual({ v1: 5, v2: 2 });
    expect(await versions('app_user')).toEqual({ v1: 4 });

    const resumed: RotationProgress[] = [];
    const second = await rotateDataKeys(dataSource, vault, { batchSize: 2, onProgress: (p) => resumed.push(p) });
    expect(second).toMatchObject({ stopped: false, complete: true, rewrapped: 9, skipped: 0, failed: 0, remaining: 0, failures: [] });
    expect(resumed[0]).toMatchObject({ done: 0, total: 9 });
    expect(resumed[resumed.length - 1]).toMatchObject({ done: 9, total: 9 });
    expect(second.tables).toEqual([
      expect.objectContaining({ table: 'customer', versionsBefore: { v1: 5, v2: 2 }, versionsAfter: { v2: 7 }, rewrapped: 5, remaining: 0 }),
      expect.objectContaining({ table: 'app_user', versionsBefore: { v1: 4 }, versionsAfter: { v2: 4 }, rewrapped: 4, remaining: 0 }),
      expect.objectContaining({ table: 'webhook', rewrapped: 0, remaining: 0 }),
      expect.objectContaining({ table: 'alert', rewrapped: 0, remaining: 0 }),
    ]);
    expect(await versions('customer')).toEqual({ v2: 7 });
    expect(await versions('app_user')).toEqual({ v2: 4 });
    expect((await sql.query('SELECT data_key FROM customer WHERE id = $1', [erasedId])).rows[0].data_key).toBeNull();

    const again = await rotateDataKeys(dataSource, vault, { batchSize: 2 });
    expect(again).toMatchObject({ complete: true, rewrapped: 0, remaining: 0 });
  });

  it('a ring holding only v2 opens every data key and decrypts every customer and every TOTP secret', async () => {
    const onlyV2 = vaultFor(shared, `v2:${v2}`);
    const onlyV1 = vaultFor(shared, `v1:${v1}`);
    const rows = (await sql.query('SELECT id, data_key, full_name, email, phone FROM customer WHERE data_key IS NOT NULL ORDER BY external_ref')).rows;
    expect(rows).toHaveLength(customers.length);
    for (const row of rows) {
      const owner = dataKeyOwner.customer(row.id);
      expect(() => onlyV1.openDataKey(row.data_key, owner)).toThrow(KeyVersionMissingError);
      const dek = onlyV2.openDataKey(row.data_key, owner);
      const expected = customers.find((c) => c.id === row.id)!;
      const read = (column: string) => onlyV2.decrypt(dek, row[column], { table: 'customer', column, rowId: row.id });
      expect({ id: row.id, fullName: read('full_name'), email: read('email'), phone: read('phone') }).toEqual(expected);
    }
    for (const user of [admin, agent, co, reader]) {
      const { rows: [u] } = await sql.query('SELECT id, data_key, totp_secret FROM app_user WHERE id = $1', [user.userId]);
      const dek = onlyV2.openDataKey(u.data_key, dataKeyOwner.user(u.id));
      expect(onlyV2.decrypt(dek, u.totp_secret, { table: 'app_user', column: 'totp_secret', rowId: u.id })).toBe(user.secret);
    }
  });

  it('rewraps the key of an alert without a customer: its notes still open under v2 alone', async () => {
    const alertId = randomUUID();
    const activityId = randomUUID();
    const onV1 = vaultFor(shared, `v1:${v1}`);
    const { dek, wrapped } = onV1.newDataKey(dataKeyOwner.alert(alertId));
    const aad = { table: 'alert_activity', column: 'note', rowId: activityId };
    await sql.query(`INSERT INTO alert (id, kind, severity, first_seen_at, last_seen_at, data_key) VALUES ($1, 'SYSTEMIC', 'HIGH', now(), now(), $2)`, [alertId, wrapped]);
    await sql.query(`INSERT INTO alert_activity (id, alert_id, kind, from_status, to_status, note) VALUES ($1, $2, 'NOTE', 'OPEN', 'OPEN', $3)`, [activityId, alertId, onV1.encrypt(dek, 'spike explained', aad)]);
    const result = await rotateDataKeys(dataSource, rotatingVault(), { batchSize: 2 });
    expect(result.tables.find((r) => r.table === 'alert')).toMatchObject({ versionsBefore: { v1: 1 }, versionsAfter: { v2: 1 }, rewrapped: 1, remaining: 0 });
    const { rows: [row] } = await sql.query(`SELECT a.data_key, x.note FROM alert a JOIN alert_activity x ON x.alert_id = a.id WHERE a.id = $1`, [alertId]);
    const onlyV2 = vaultFor(shared, `v2:${v2}`);
    expect(onlyV2.decrypt(onlyV2.openDataKey(row.data_key, dataKeyOwner.alert(alertId)), row.note, aad)).toBe('spike explained');
    // Bound to its owner: the same wrapped key does not open as another alert's.
    expect(() => onlyV2.openDataKey(row.data_key, dataKeyOwner.alert(randomUUID()))).toThrow();
  });

  it('a new app on the same database (PII_KEYS v1,v2, active v2) signs staff in with TOTP and reads the same PII', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATA_DIR: t.config.dataDir,
      AUDIT_CHECKPOINT_PATH: t.config.auditCheckpointPath,
      NOTIFY_TRANSPORT: t.config.notifyTransport,
      ...secretsWith(shared, `v1:${v1},v2:${v2}`, 'v2'),
      TRUST_PROXY: 'loopback',
      BOOTSTRAP_ADMIN_EMAIL: TEST_ADMIN.email,
      BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN.password,
      DATABASE_URL: t.db.url,
    });
    const t2 = await appOn(t.db, config);
    try {
      const again = await signIn(t2, admin.email, admin.password, admin.secret);
      const me = await gqlOk<{ me: { id: string; mfaEnrolled: boolean } }>(t2.gql, '{ me { id mfaEnrolled } }', undefined, again.accessToken);
      expect(me.me).toEqual({ id: admin.userId, mfaEnrolled: true });
      const officer = await signIn(t2, reader.email, reader.password, reader.secret);
      for (const c of customers) {
        const { customer } = await gqlOk<{ customer: Record<string, string> }>(t2.gql, READ, { id: c.id }, officer.accessToken);
        expect({ id: c.id, ...customer }).toEqual(c);
      }
      const found = await gqlOk<{ customers: { nodes: Array<{ id: string }> } }>(t2.gql, '{ customers(filter: {email: "ROTATION3@example.test"}) { nodes { id } } }', undefined, officer.accessToken);
      expect(found.customers.nodes).toEqual([{ id: customers[2].id }]);
      // New customers get their key under v2 straight away.
      const { createCustomer } = await gqlOk<{ createCustomer: { id: string } }>(t2.gql, CREATE, { i: { externalRef: 'rot-after', fullName: 'After Rotation' } }, officer.accessToken);
      expect((await sql.query('SELECT data_key FROM customer WHERE id = $1', [createCustomer.id])).rows[0].data_key).toMatch(/^v2:/);
    } finally {
      await t2.close();
    }
  }, 120_000);
});

describe('keys:rotate: concurrent changes, unreadable keys, and the CLI', () => {
  const v1 = key();
  const v2 = key();
  const { PII_KEYS: _unused, ...shared } = testSecrets();
  const vaultV1 = vaultFor(shared, `v1:${v1}`);
  let db: TestDatabase;
  let sql: Client;
  let dataSource: DataSource;

  const insertCustomers = async (n: number, prefix: string): Promise<Array<{ id: string; dataKey: string }>> => {
    const rows = Array.from({ length: n }, () => {
      const id = randomUUID();
      return { id, dataKey: vaultV1.newDataKey(dataKeyOwner.customer(id)).wrapped };
    });
    await sql.query(
      `INSERT INTO customer (id, external_ref, data_key) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])`,
      [rows.map((r) => r.id), rows.map((_, i) => `${prefix}-${i}`), rows.map((r) => r.dataKey)],
    );
    return rows;
  };
  const dataKeyOf = async (table: string, id: string) => (await sql.query(`SELECT data_key FROM ${table} WHERE id = $1`, [id])).rows[0].data_key as string | null;

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    dataSource = rawDataSource(db.url);
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await sql?.end();
    await db?.drop();
  });

  it('skips rows erased or re-keyed between read and write, and leaves keys it cannot open untouched', async () => {
    const [a, b, c, d, e, tampered, unknownVersion] = await insertCustomers(7, 'cc');
    const userId = randomUUID();
    await sql.query(
      `INSERT INTO app_user (id, email, email_normalized, display_name, role, password_hash, data_key) VALUES ($1, 'u@x.test', 'u@x.test', 'U', 'AGENT', 'x', $2)`,
      [userId, vaultV1.newDataKey(dataKeyOwner.user(userId)).wrapped],
    );
    // A flipped byte fails authentication; a version PII_KEYS does not configure cannot be opened at all.
    const body = tampered.dataKey.slice(3);
    const flipped = `v1:${body.slice(0, 10)}${body[10] === 'A' ? 'B' : 'A'}${body.slice(11)}`;
    await sql.query('UPDATE customer SET data_key = $2 WHERE id = $1', [tampered.id, flipped]);
    await sql.query('UPDATE customer SET data_key = $2 WHERE id = $1', [unknownVersion.id, `v7:${unknownVersion.dataKey.slice(3)}`]);

    // Between the read and the write of the first batch: A is erased, B gets a new wrap of its key (still v1).
    const dekB = vaultV1.openDataKey(b.dataKey, dataKeyOwner.customer(b.id));
    const rekeyedB = wrapDataKey(new KeyRing(new Map([['v1', Buffer.from(v1, 'base64')]]), 'v1'), dekB, { owner: dataKeyOwner.customer(b.id) });
    let interfered = false;
    const vault = vaultFor(shared, `v1:${v1},v2:${v2}`, 'v2');
    const result = await rotateDataKeys(dataSource, vault, {
      batchSize: 50,
      beforeWrite: async ({ table, ids }) => {
        if (interfered || table !== 'customer') return;
        interfered = true;
        expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
        await sql.query(`UPDATE customer SET status = 'ERASED', data_key = NULL, erased_at = now() WHERE id = $1`, [a.id]);
        await sql.query('UPDATE customer SET data_key = $2 WHERE id = $1', [b.id, rekeyedB]);
      },
    });
    expect(result).toMatchObject({ stopped: false, complete: false, rewrapped: 4, skipped: 2, failed: 2, remaining: 3 });
    expect(result.tables.find((x) => x.table === 'customer')).toMatchObject({ rewrapped: 3, skipped: 2, failed: 2, versionsAfter: { v1: 2, v2: 3, v7: 1 }, remaining: 3 });
    expect(result.tables.find((x) => x.table === 'app_user')).toMatchObject({ rewrapped: 1, versionsAfter: { v2: 1 }, remaining: 0 });
    // The concurrent changes won: nothing was overwritten.
    expect(await dataKeyOf('customer', a.id)).toBeNull();
    expect(await dataKeyOf('customer', b.id)).toBe(rekeyedB);
    expect(await dataKeyOf('customer', tampered.id)).toBe(flipped);
    expect(await dataKeyOf('customer', unknownVersion.id)).toBe(`v7:${unknownVersion.dataKey.slice(3)}`);
    for (const row of [c, d, e]) expect(await dataKeyOf('customer', row.id)).toMatch(/^v2:/);
    expect(result.failures).toEqual(
      expect.arrayContaining([
        { table: 'customer', id: tampered.id, reason: expect.stringMatching(/^DecryptionError: /) },
        { table: 'customer', id: unknownVersion.id, reason: 'KeyVersionMissingError: PII key version "v7" is not configured in PII_KEYS (configured: v1, v2)' },
      ]),
    );
    expect(JSON.stringify(result)).not.toContain(body.slice(0, 16));

    // A second run picks up the re-keyed B; the unreadable keys still fail and still block completion.
    const second = await rotateDataKeys(dataSource, vault, { batchSize: 50 });
    expect(second).toMatchObject({ complete: false, rewrapped: 1, skipped: 0, failed: 2, remaining: 2 });
    const onlyV2 = vaultFor(shared, `v2:${v2}`);
    const newB = (await dataKeyOf('customer', b.id))!;
    expect(newB).toMatch(/^v2:/);
    expect(onlyV2.openDataKey(newB, dataKeyOwner.customer(b.id)).equals(dekB)).toBe(true);

    await sql.query('DELETE FROM customer WHERE id = ANY($1::uuid[])', [[tampered.id, unknownVersion.id]]);
    expect(await rotateDataKeys(dataSource, vault)).toMatchObject({ complete: true, rewrapped: 0, remaining: 0 });
  });

  it('CLI: progress on stderr, stops on SIGINT after the current batch (exit 130), resumes, verifies, never prints keys', async () => {
    await sql.query('DELETE FROM customer');
    await sql.query('DELETE FROM app_user');
    const rows = await insertCustomers(1500, 'cli');
    const env = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      DATA_DIR: `/tmp/${db.name}`,
      DATABASE_URL: db.url,
      ...secretsWith(shared, `v1:${v1},v2:${v2}`),
    };
    const root = join(__dirname, '..', '..');
    const cli = ['-r', 'ts-node/register/transpile-only', join(root, 'src', 'keys', 'rotate.cli.ts')];
    const run = (...args: string[]) => spawnSync(process.execPath, [...cli, ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });

    const check = run('--check');
    expect(check.status).toBe(1);
    expect(check.stdout).toContain('1500 data key(s) are not under v2.');

    // Interrupted run: SIGINT once the first progress line shows.
    const child = spawn(process.execPath, [...cli, '--batch-size=1'], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/Re-wrapping under v2 \S+ {2}[1-9]\d*\/1500/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toContain('SIGINT: stopping after the current batch');
    expect(code).toBe(130);
    expect(stdout).toMatch(/Interrupted: \d+ data key\(s\) are not under v2 yet\. Run keys:rotate again to resume/);
    const mid = (await sql.query(`SELECT split_part(data_key, ':', 1) AS v, count(*)::int AS n FROM customer GROUP BY 1 ORDER BY 1`)).rows;
    expect(mid.map((r) => r.v)).toEqual(['v1', 'v2']);

    const resumed = run('--batch-size=400');
    expect(resumed.status).toBe(0);
    // Not a terminal: one progress line per batch.
    expect(resumed.stderr).toMatch(/Re-wrapping under v2 \[#+\.*\] {2}400\/\d+ {2}\d+% {2}[\d.k]+\/s {2}ETA /);
    expect(resumed.stderr).toMatch(/Re-wrapping under v2 \[#{28}\] {2}(\d+)\/\1 {2}100%/);
    expect(resumed.stdout).toContain('Key ring: v1, v2; active v2');
    expect(resumed.stdout).toContain('0 skipped (changed or erased meanwhile), 0 failed.');
    expect(resumed.stdout).toContain('customers (customer): ');
    expect(resumed.stdout).toContain('now v2=1500; 0 not under v2');
    expect(resumed.stdout).toContain('Verified: every data key is under v2 (final count: 0 remaining).');
    expect(run('--check').status).toBe(0);

    // Nothing secret in any output: no KEK, no wrapped key (old or new).
    const after = (await sql.query('SELECT data_key FROM customer')).rows.map((r) => r.data_key as string);
    const output = [check.stdout, check.stderr, stdout, stderr, resumed.stdout, resumed.stderr].join('\n');
    for (const secret of [v1, v2, shared.BLIND_INDEX_KEY]) expect(output).not.toContain(secret);
    for (const wrapped of [...rows.map((r) => r.dataKey), ...after]) expect(output).not.toContain(wrapped.slice(3, 30));

    expect(run('--batch-size=0').status).toBe(1);
  }, 120_000);
});
