import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/config';
import { startServer } from '../../src/server';
import { startTestApp, testSecrets, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';
import { ingest, partnerWithToken } from '../helpers/monitoring';

/**
 * CONTENT_FLAG_WORDS_FILE (SPEC §5 monitoring: communication content flagged at ingest, word lists
 * configurable): the file's lists replace the built-in ones. Through GraphQL on a fresh database: a
 * configured word sets its flag on the event and the default COMMUNICATION_FLAG rule raises an alert; a
 * built-in word the file no longer lists sets nothing.
 */
describe('content flag word lists from CONTENT_FLAG_WORDS_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-flag-words-'));
  const wordsFile = join(dir, 'flag-words.json');
  writeFileSync(
    wordsFile,
    JSON.stringify({
      THREAT: ['ich finde dich'],
      FRAUD: ['betrug', 'chargeback scheme'],
      // A flag of the deployment's own: stored on the event, but no default rule tests it.
      VULNERABLE: ['bereavement'],
    }),
  );

  let t: TestApp;
  let co: SignedIn;
  let core: { id: string; token: string };
  let n = 0;

  const customer = async () =>
    (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: `flags-${++n}`, transactionLimit: '1000.00', dailyLimit: '5000.00' } }, co.accessToken)).createCustomer.id;

  /** Ingests one COMMUNICATION event; returns its id and decision. */
  const message = async (customerId: string, content: string) => {
    const res = await ingest(t, core.token, [{ customerId, type: 'COMMUNICATION', channel: 'EMAIL', content }]);
    expect(res.errors).toBeUndefined();
    const result = res.data!.ingestEvents[0]!;
    return { id: result.event!.id, decision: result.decision };
  };

  /** The event's stored flags, as a compliance officer reads them. */
  const flagsOf = async (eventId: string) =>
    (await gqlOk<{ event: { flags: string[] | null } }>(t.gql, 'query($id: ID!) { event(id: $id) { flags } }', { id: eventId }, co.accessToken)).event.flags;

  const alerts = async (customerId: string): Promise<string[]> =>
    (await gqlOk<{ alerts: { nodes: Array<{ rule: { code: string } }> } }>(t.gql, 'query($c: ID!) { alerts(filter: {customerId: $c}, first: 100) { nodes { rule { code } } } }', { c: customerId }, co.accessToken)).alerts.nodes.map((a) => a.rule.code).sort();

  beforeAll(async () => {
    t = await startTestApp({ CONTENT_FLAG_WORDS_FILE: wordsFile });
    const admin = await signInAdmin(t);
    co = await createStaff(t, admin, 'COMPLIANCE_OFFICER');
    core = await partnerWithToken(t, admin, 'INTERNAL');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the file into the configuration', () => {
    expect(t.config.contentFlagWords).toEqual({ THREAT: ['ich finde dich'], FRAUD: ['betrug', 'chargeback scheme'], VULNERABLE: ['bereavement'] });
  });

  it('flags a configured word (any case) and raises a COMMUNICATION_FLAG alert without changing the decision', async () => {
    const c = await customer();
    const e = await message(c, 'Das ist BETRUG, ich will mein Geld zurück.');
    expect(e.decision).toBe('ALLOW');
    expect(await flagsOf(e.id)).toEqual(['FRAUD']);
    expect(await alerts(c)).toEqual(['COMMUNICATION_FLAG']);
  });

  it('flags a configured phrase across line breaks, each matching flag in the file’s order', async () => {
    const c = await customer();
    const e = await message(c, 'It is a chargeback\n  scheme.\nICH   FINDE DICH.');
    expect(await flagsOf(e.id)).toEqual(['THREAT', 'FRAUD']);
    expect(await alerts(c)).toEqual(['COMMUNICATION_FLAG']);
  });

  it('no longer flags built-in words the file does not list', async () => {
    const c = await customer();
    const e = await message(c, 'This is a scam, someone used a stolen card and I will kill them.');
    expect(e.decision).toBe('ALLOW');
    expect(await flagsOf(e.id)).toEqual([]);
    expect(await alerts(c)).toEqual([]);
  });

  it('matches whole words only', async () => {
    const c = await customer();
    const e = await message(c, 'Der Betrugsversuch wurde gemeldet.');
    expect(await flagsOf(e.id)).toEqual([]);
    expect(await alerts(c)).toEqual([]);
  });

  it('stores a flag of the deployment’s own; the default rule does not alert on it', async () => {
    const c = await customer();
    const e = await message(c, 'I am writing after a bereavement in the family.');
    expect(await flagsOf(e.id)).toEqual(['VULNERABLE']);
    expect(await alerts(c)).toEqual([]);
  });
});

describe('an invalid CONTENT_FLAG_WORDS_FILE', () => {
  it('stops the server start-up (npm start) before it touches a database, naming the variable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-flag-words-'));
    const env = { NODE_ENV: 'test', DATA_DIR: join(dir, 'data'), ...testSecrets() };
    try {
      writeFileSync(join(dir, 'empty-list.json'), JSON.stringify({ FRAUD: [] }));
      await expect(startServer({ ...env, CONTENT_FLAG_WORDS_FILE: join(dir, 'empty-list.json') })).rejects.toThrow(
        new ConfigError('CONTENT_FLAG_WORDS_FILE FRAUD must be a non-empty list of words'),
      );
      writeFileSync(join(dir, 'bad.json'), '{"FRAUD": ["scam"');
      await expect(startServer({ ...env, CONTENT_FLAG_WORDS_FILE: join(dir, 'bad.json') })).rejects.toThrow(/^CONTENT_FLAG_WORDS_FILE is not valid JSON/);
      await expect(startServer({ ...env, CONTENT_FLAG_WORDS_FILE: join(dir, 'missing.json') })).rejects.toThrow(/^CONTENT_FLAG_WORDS_FILE cannot be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
