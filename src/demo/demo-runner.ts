import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { createApp } from '../app.factory';
import { Role } from '../common/context/principal';
import { loadConfig } from '../config/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../database/embedded-postgres';
import { runMigrations } from '../database/migrate';
import { ProgressBar, type ProgressStream } from '../keys/progress-bar';
import { UsersService } from '../modules/identity/users/users.service';
import { DemoClient, DemoRequestError, signIn, type StaffSession } from './demo-client';
import { generateDemoData, SANCTIONED_LIST, type DemoDataset, type DemoEvent } from './demo-data';
import { DECISIONS, type DemoReport } from './demo-report';
import { buildReport, decisionCounts } from './demo-results';

export interface DemoRunOptions {
  customers: number;
  days: number;
  seed: number;
  /** Load next to existing customers (otherwise a database with customers is refused). */
  force: boolean;
  /** Wipe the embedded demo database first (refused with DATABASE_URL). */
  reset: boolean;
  /** Events per ingestEvents call (≤ 1000). */
  batchSize: number;
  /** Where the embedded demo database, its dev keys and the demo credentials live. */
  dataDir?: string;
  env: NodeJS.ProcessEnv;
  /** Lines for the operator (stdout). */
  say: (line: string) => void;
  /** Progress bars (stderr). */
  progress: ProgressStream;
  /** Write every request, its status and duration to `progress` (diagnosing a slow or stuck run). */
  trace?: boolean;
}

/** A refusal the operator can act on (exit status 2), as opposed to a failure while loading. */
export class DemoRefusal extends Error {}

/** The marker that lets `--reset` wipe a directory: only ones the demo created. */
const MARKER = '.custos-demo';
const CREDENTIALS = 'demo-credentials.json';
const CUSTOMERS_PER_REQUEST = 25;

interface SavedCredentials {
  database: string;
  admin: { email: string; password: string; totpSecret: string };
  /** The compliance officer and agent of the latest run: the roles that see alerts, events and complaints. */
  staff?: Array<{ role: string; email: string; password: string; totpSecret: string }>;
}

const password = () => `demo-${randomBytes(12).toString('base64url')}`;

/** Runs the whole demo: database, app, sign-ins, loading through GraphQL, and the report. */
export async function runDemo(o: DemoRunOptions): Promise<DemoReport> {
  const started = Date.now();
  const dataDir = resolve(o.dataDir ?? join(o.env.DATA_DIR ?? '.data', 'demo'));
  const databaseUrl = o.env.DATABASE_URL;
  prepareDataDir(dataDir, o.reset, Boolean(databaseUrl));
  const databaseKey = databaseUrl ? redactUrl(databaseUrl) : 'embedded';
  const saved = readCredentials(dataDir, databaseKey);

  const config = loadConfig(
    {
      ...o.env,
      DATA_DIR: dataDir,
      // The app's own log lines would drown the progress bars; failures surface in the report instead.
      LOG_LEVEL: o.env.LOG_LEVEL ?? 'fatal',
      NOTIFY_TRANSPORT: o.env.NOTIFY_TRANSPORT ?? `file:${join(dataDir, 'notifications.jsonl')}`,
      BOOTSTRAP_ADMIN_EMAIL: o.env.BOOTSTRAP_ADMIN_EMAIL ?? saved?.admin.email ?? 'admin@custos.local',
      BOOTSTRAP_ADMIN_PASSWORD: o.env.BOOTSTRAP_ADMIN_PASSWORD ?? saved?.admin.password ?? password(),
    },
    { warn: (m) => o.progress.write(`WARNING: ${m}\n`) },
  );

  let embedded: EmbeddedPostgres | undefined;
  let app: INestApplication | undefined;
  try {
    if (!config.databaseUrl) {
      o.say(`Demo database: embedded PostgreSQL (PGlite) in ${dataDir}/pgdata — separate from the development database; set DATABASE_URL to load elsewhere.`);
      embedded = await startEmbeddedPostgres(dataDir);
    } else {
      o.say(`Demo database: DATABASE_URL (${databaseKey}).`);
    }
    const url = config.databaseUrl ?? embedded!.url;
    await runMigrations(url);
    const before = await countRows(url);
    if (before.customers > 0 && !o.force) {
      throw new DemoRefusal(
        `the database already holds ${before.customers} customer(s); the demo loads fake data only into an empty database. ` +
          (databaseUrl ? 'Pass --force to add demo data next to them.' : 'Pass --reset to start the demo database afresh, or --force to add to it.'),
      );
    }

    const timings: Record<string, number> = {};
    let phase = Date.now();
    const lap = (name: string) => {
      timings[name] = Date.now() - phase;
      phase = Date.now();
    };

    app = await createApp(config, url);
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    const api = new DemoClient(`http://127.0.0.1:${address.port}/graphql`, undefined, undefined, o.trace ? o.progress : undefined);
    lap('startup');

    const runId = `demo${o.seed}-${Date.now().toString(36)}`;
    const runStartedAt = new Date();
    const data = generateDemoData({ customers: o.customers, days: o.days, seed: o.seed, now: Date.now(), runId });

    // Staff and partner set-up, as an administrator would do it.
    const admin = await adminSession(app, api, config.bootstrapAdmin, before.users, saved, runId);
    writeCredentials(dataDir, { database: databaseKey, admin: { email: admin.email, password: admin.password, totpSecret: admin.totpSecret } });
    const asAdmin = api.as(admin.accessToken);
    const staff = async (role: string, name: string, n = 1) => {
      const email = `${role.toLowerCase().replace(/_/g, '-')}${n}.${runId}@custos.demo`;
      const initial = password();
      const { createUser } = await asAdmin.ok<{ createUser: { id: string } }>(
        'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
        { i: { email, displayName: name, role, initialPassword: initial } },
      );
      return { id: createUser.id, email, initial };
    };
    const managers = [];
    for (let k = 0; k < data.accountManagers; k++) managers.push(await staff('ACCOUNT_MANAGER', `Account manager ${k + 1}`, k + 1));
    const coUser = await staff('COMPLIANCE_OFFICER', 'Compliance officer (demo)');
    const agentUser = await staff('AGENT', 'Service agent (demo)');
    const co = await signIn(api, coUser.email, coUser.initial);
    const agent = await signIn(api, agentUser.email, agentUser.initial);
    writeCredentials(dataDir, {
      database: databaseKey,
      admin: { email: admin.email, password: admin.password, totpSecret: admin.totpSecret },
      staff: [
        { role: 'COMPLIANCE_OFFICER', email: co.email, password: co.password, totpSecret: co.totpSecret },
        { role: 'AGENT', email: agent.email, password: agent.password, totpSecret: agent.totpSecret },
      ],
    });
    const partnerToken = await createCoreBankingPartner(asAdmin, runId);
    const asCo = api.as(co.accessToken);
    const asAgent = api.as(agent.accessToken);
    const asPartner = api.as(partnerToken);
    if (data.sanctionedCounterparties.length) {
      await asCo.ok('mutation($i: UpdateWatchlistEntriesInput!) { updateWatchlistEntries(input: $i) { entryCount } }', {
        i: { code: SANCTIONED_LIST, add: data.sanctionedCounterparties },
      });
    }
    // What earlier runs left (`--force`): the report counts this run's decisions and holds alone.
    const countsBefore = await decisionCounts(asCo);
    lap('setup');

    const customerIds = await createCustomers(asPartner, data, managers.map((m) => m.id), o.progress);
    lap('customers');
    const ingest = await ingestEvents(asPartner, data.events, customerIds, runId, o.batchSize, o.progress);
    lap('events');
    await recordVerifications(asPartner, data, customerIds, runId, o.progress);
    await fileComplaints(asAgent, data, customerIds, o.progress);
    lap('verificationsAndComplaints');

    const report = await buildReport(asCo, data, customerIds, runStartedAt, countsBefore);
    lap('report');
    return {
      ...report,
      runId,
      database: config.databaseUrl ? `DATABASE_URL (${databaseKey})` : `embedded PGlite in ${dataDir}/pgdata`,
      dataDir,
      credentialsFile: join(dataDir, CREDENTIALS),
      options: { customers: o.customers, days: o.days, seed: o.seed },
      loaded: {
        customers: customerIds.length,
        events: data.events.length,
        verifications: data.verifications.length,
        complaints: data.complaints.length,
        accountManagers: managers.length,
      },
      ingestDecisions: ingest.decisions,
      failures: ingest.failures,
      retried: { requests: api.retried.count, reasons: Object.fromEntries(api.retried.reasons) },
      timings: { ...timings, total: Date.now() - started },
    };
  } finally {
    // Shutting down must not hold the report hostage: on the embedded server a stuck statement can keep
    // the app (its job queue) from closing, so each step gets a bound and the CLI exits after it.
    const stop = async (what: string, step: (() => Promise<unknown>) | undefined) => {
      if (!step) return;
      if (o.trace) o.progress.write(`[trace] stopping ${what}\n`);
      const done = await Promise.race([step().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), SHUTDOWN_MS).unref())]);
      if (!done) o.progress.write(`WARNING: ${what} did not stop within ${SHUTDOWN_MS / 1000}s; leaving it to the process exit.\n`);
    };
    await stop('the application', app && (() => app!.close()));
    await stop('the embedded database', embedded && (() => embedded!.stop()));
  }
}

const SHUTDOWN_MS = 15_000;

function prepareDataDir(dir: string, reset: boolean, external: boolean): void {
  if (reset) {
    if (external) throw new DemoRefusal('--reset wipes only the embedded demo database; with DATABASE_URL create a fresh database yourself (or pass --force).');
    const entries = existsSync(dir) ? readdirSync(dir) : [];
    if (entries.length && !entries.includes(MARKER)) throw new DemoRefusal(`--reset refused: ${dir} was not created by the demo (no ${MARKER} marker); it is left alone.`);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  const entries = readdirSync(dir);
  if (entries.length === 0 || entries.includes(MARKER)) writeFileSync(join(dir, MARKER), 'Created by `npm run demo`; `npm run demo -- --reset` may delete this directory.\n');
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

function readCredentials(dir: string, database: string): SavedCredentials | undefined {
  const file = join(dir, CREDENTIALS);
  if (!existsSync(file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCredentials;
    return saved.database === database ? saved : undefined;
  } catch {
    return undefined;
  }
}

function writeCredentials(dir: string, c: SavedCredentials): void {
  writeFileSync(join(dir, CREDENTIALS), `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
}

async function countRows(url: string): Promise<{ customers: number; users: number }> {
  const client = new Client({ connectionString: url, application_name: 'custos-demo' });
  await client.connect();
  try {
    const { rows } = await client.query<{ customers: number; users: number }>(
      'SELECT (SELECT count(*) FROM customer)::int AS customers, (SELECT count(*) FROM app_user)::int AS users',
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

/**
 * The administrator the demo acts as: the bootstrap admin of a fresh database (created by the app on start
 * with the demo's password), the one a previous demo run saved, or — in a database that has users the demo
 * knows nothing of (`--force`) — a demo administrator created in-process like the bootstrap admin is.
 */
async function adminSession(
  app: INestApplication,
  api: DemoClient,
  bootstrap: { email: string; password?: string },
  usersBefore: number,
  saved: SavedCredentials | undefined,
  runId: string,
): Promise<StaffSession> {
  if (usersBefore === 0) return signIn(api, bootstrap.email, bootstrap.password!);
  if (saved) return signIn(api, saved.admin.email, saved.admin.password, saved.admin.totpSecret);
  const email = `admin.${runId}@custos.demo`;
  const initial = password();
  await app.get(UsersService).create({ email, displayName: 'Demo administrator', role: Role.ADMIN, initialPassword: initial }, { passwordChangeRequired: false, action: 'user.demo_admin' });
  return signIn(api, email, initial);
}

/** An INTERNAL partner (a core-banking feed): onboards the customers, sends their events and check results. */
async function createCoreBankingPartner(asAdmin: DemoClient, runId: string): Promise<string> {
  const scopes = ['customers:read', 'customers:write', 'events:write', 'verifications:write'];
  const day = 86_400_000;
  const { createPartner } = await asAdmin.ok<{ createPartner: { id: string } }>('mutation($i: CreatePartnerInput!) { createPartner(input: $i) { id } }', {
    i: {
      name: `Core banking feed (${runId})`,
      contactEmail: 'core-banking@custos.demo',
      trustLevel: 'INTERNAL',
      allowedScopes: scopes,
      agreementSignedAt: new Date(Date.now() - day).toISOString(),
      agreementExpiresAt: new Date(Date.now() + 365 * day).toISOString(),
    },
  });
  const { issuePartnerToken } = await asAdmin.ok<{ issuePartnerToken: { token: string } }>(
    'mutation($i: IssuePartnerTokenInput!) { issuePartnerToken(input: $i) { token } }',
    { i: { partnerId: createPartner.id, name: 'demo load', scopes, expiresAt: new Date(Date.now() + day).toISOString() } },
  );
  return issuePartnerToken.token;
}

async function createCustomers(asPartner: DemoClient, data: DemoDataset, managerIds: string[], progress: ProgressStream): Promise<string[]> {
  const bar = new ProgressBar(progress, 'Customers ');
  const ids: string[] = [];
  const t0 = Date.now();
  try {
    for (let from = 0; from < data.customers.length; from += CUSTOMERS_PER_REQUEST) {
      const slice = data.customers.slice(from, from + CUSTOMERS_PER_REQUEST);
      // One request, one aliased createCustomer per customer (a partner onboarding a batch).
      const vars = slice.map((_, k) => `$c${k}: CreateCustomerInput!`).join(', ');
      const fields = slice.map((_, k) => `c${k}: createCustomer(input: $c${k}) { id }`).join(' ');
      const variables = Object.fromEntries(
        slice.map((c, k) => [
          `c${k}`,
          {
            externalRef: c.externalRef,
            fullName: c.fullName,
            email: c.email,
            phone: c.phone,
            nationalId: c.nationalId,
            dateOfBirth: c.dateOfBirth,
            address: c.address,
            accountManagerId: managerIds[c.accountManager],
            transactionLimit: c.transactionLimit.toFixed(2),
            dailyLimit: c.dailyLimit.toFixed(2),
            lifecycleStage: 'ACTIVE',
          },
        ]),
      );
      const res = await asPartner.ok<Record<string, { id: string }>>(`mutation(${vars}) { ${fields} }`, variables);
      slice.forEach((_, k) => ids.push(res[`c${k}`].id));
      bar.update({ done: ids.length, total: data.customers.length, elapsedMs: Date.now() - t0 });
    }
  } finally {
    bar.finish();
  }
  return ids;
}

const INGEST = 'mutation($e: [EventInput!]!) { ingestEvents(events: $e) { event { id } decision duplicate } }';

async function ingestEvents(
  asPartner: DemoClient,
  events: DemoEvent[],
  customerIds: string[],
  runId: string,
  batchSize: number,
  progress: ProgressStream,
): Promise<{ decisions: Record<string, number>; failures: string[] }> {
  const decisions: Record<string, number> = Object.fromEntries(DECISIONS.map((d) => [d, 0]));
  const failures: string[] = [];
  const bar = new ProgressBar(progress, 'Events    ');
  const t0 = Date.now();
  try {
    for (let from = 0; from < events.length; from += batchSize) {
      const batch = events.slice(from, from + batchSize).map((e, k) => {
        const { customer, injected: _injected, occurredAt, ...rest } = e;
        return { ...rest, idempotencyKey: `${runId}-${from + k}`, customerId: customerIds[customer], occurredAt: new Date(occurredAt).toISOString() };
      });
      const res = await asPartner.raw<{ ingestEvents: Array<{ decision: string } | null> }>(INGEST, { e: batch });
      const results = res.data?.ingestEvents;
      if (!results) throw new DemoRequestError('ingestEvents', res.errors ?? [{ message: 'no data' }]);
      results.forEach((r, k) => {
        if (r?.decision) decisions[r.decision] = (decisions[r.decision] ?? 0) + 1;
        else failures.push(`event ${from + k} (${batch[k].type}): ${res.errors?.find((e) => e.path?.at(-1) === k)?.message ?? 'no result'}`);
      });
      bar.update({ done: Math.min(from + batchSize, events.length), total: events.length, elapsedMs: Date.now() - t0, note: failures.length ? `${failures.length} failed` : undefined });
    }
  } finally {
    bar.finish();
  }
  return { decisions, failures };
}

/** Verification results go through `recordVerificationResult`: VERIFICATION events are Custos' own. */
async function recordVerifications(asPartner: DemoClient, data: DemoDataset, customerIds: string[], runId: string, progress: ProgressStream): Promise<void> {
  const bar = new ProgressBar(progress, 'Checks    ');
  const t0 = Date.now();
  try {
    for (const [k, v] of data.verifications.entries()) {
      await asPartner.ok('mutation($i: RecordVerificationResultInput!) { recordVerificationResult(input: $i) { id } }', {
        i: { customerId: customerIds[v.customer], method: v.method, provider: 'DemoID', result: v.result, score: v.result === 'PASSED' ? 92 : 18, reference: `${runId}-check-${k}` },
      });
      bar.update({ done: k + 1, total: data.verifications.length, elapsedMs: Date.now() - t0 });
    }
  } finally {
    bar.finish();
  }
}

async function fileComplaints(asAgent: DemoClient, data: DemoDataset, customerIds: string[], progress: ProgressStream): Promise<void> {
  const bar = new ProgressBar(progress, 'Complaints');
  const t0 = Date.now();
  try {
    for (const [k, c] of data.complaints.entries()) {
      await asAgent.ok('mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { id } }', {
        i: { customerId: customerIds[c.customer], channel: c.channel, category: c.category, severity: c.severity, subject: c.subject, description: c.description },
      });
      bar.update({ done: k + 1, total: data.complaints.length, elapsedMs: Date.now() - t0 });
    }
  } finally {
    bar.finish();
  }
}
