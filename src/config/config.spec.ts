import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';
import { DEFAULT_FLAG_WORDS } from './content-flag-words';

const key = () => randomBytes(32).toString('base64');
const productionEnv = () => ({
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://app@db:5432/custos',
  PII_KEYS: `v1:${key()},v2:${key()}`,
  BLIND_INDEX_KEY: key(),
  TOKEN_SECRET: key(),
  AUDIT_CHAIN_KEY: key(),
});

describe('loadConfig', () => {
  it('accepts a complete production environment and picks the highest key version', () => {
    const config = loadConfig(productionEnv());
    expect(config.isProduction).toBe(true);
    expect(config.keys.piiActive).toBe('v2');
    expect(config.keys.pii.get('v1')).toHaveLength(32);
    expect(config.graphql).toEqual({ maxDepth: 10, maxCost: 5000, maxAliases: 30, maxDirectives: 5, compileAfter: 1, maxSocketsPerPrincipal: 20 });
    expect(config.port).toBe(3000);
  });

  it.each(['DATABASE_URL', 'PII_KEYS', 'BLIND_INDEX_KEY', 'TOKEN_SECRET', 'AUDIT_CHAIN_KEY'])(
    'refuses production without %s, naming it in one line',
    (name) => {
      const env: Record<string, string> = productionEnv();
      delete env[name];
      expect(() => loadConfig(env)).toThrow(ConfigError);
      try {
        loadConfig(env);
      } catch (error) {
        expect((error as Error).message).toContain(name);
        expect((error as Error).message).not.toContain('\n');
      }
    },
  );

  it('treats empty variables as unset', () => {
    expect(() => loadConfig({ ...productionEnv(), TOKEN_SECRET: '' })).toThrow(/requires TOKEN_SECRET/);
    expect(loadConfig({ ...productionEnv(), PII_ACTIVE_KEY: '' }).keys.piiActive).toBe('v2');
    expect(loadConfig({ ...productionEnv(), METRICS_TOKEN: '' }).metricsToken).toBeUndefined();
  });

  it('takes a METRICS_TOKEN of at least 32 characters only', () => {
    expect(loadConfig({ ...productionEnv(), METRICS_TOKEN: 'x'.repeat(32) }).metricsToken).toBe('x'.repeat(32));
    expect(() => loadConfig({ ...productionEnv(), METRICS_TOKEN: 'x'.repeat(31) })).toThrow(/METRICS_TOKEN/);
  });

  it('refuses malformed secrets and settings', () => {
    expect(() => loadConfig({ ...productionEnv(), TOKEN_SECRET: 'c2hvcnQ=' })).toThrow(/TOKEN_SECRET must be base64 of exactly 32 bytes/);
    expect(() => loadConfig({ ...productionEnv(), PII_KEYS: 'key1' })).toThrow(/PII_KEYS/);
    // The bootstrap password's length is counted in characters (code points), as for every password.
    expect(loadConfig({ ...productionEnv(), BOOTSTRAP_ADMIN_PASSWORD: '😀'.repeat(70) }).bootstrapAdmin.password).toBe('😀'.repeat(70));
    expect(() => loadConfig({ ...productionEnv(), BOOTSTRAP_ADMIN_PASSWORD: '😀'.repeat(129) })).toThrow(/BOOTSTRAP_ADMIN_PASSWORD/);
    expect(() => loadConfig({ ...productionEnv(), BOOTSTRAP_ADMIN_PASSWORD: '😀'.repeat(11) })).toThrow(/BOOTSTRAP_ADMIN_PASSWORD/);
    // A bare key without its label: the message names the entry, never the key.
    const bare = key();
    for (const [PII_KEYS, entry] of [[bare, 1], [`v1:${key()},${bare}`, 2]] as const) {
      let message = '';
      try {
        loadConfig({ ...productionEnv(), PII_KEYS });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`PII_KEYS entry ${entry} is not of the form v<N>:<base64>`);
      expect(message).not.toContain(bare);
    }
    expect(() => loadConfig({ ...productionEnv(), PII_KEYS: `v1:${key()}`, PII_ACTIVE_KEY: 'v3' })).toThrow(/PII_ACTIVE_KEY v3/);
    expect(() => loadConfig({ ...productionEnv(), DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ ...productionEnv(), GRAPHQL_MAX_DEPTH: 'ten' })).toThrow(/GRAPHQL_MAX_DEPTH/);
    expect(() => loadConfig({ ...productionEnv(), NOTIFY_TRANSPORT: 'smtp://x' })).toThrow(/NOTIFY_TRANSPORT/);
  });

  it('names the database statements unless DATABASE_PREPARED_STATEMENTS=false, and refuses other values', () => {
    expect(loadConfig(productionEnv()).databasePreparedStatements).toBe(true);
    expect(loadConfig({ ...productionEnv(), DATABASE_PREPARED_STATEMENTS: 'false' }).databasePreparedStatements).toBe(false);
    expect(loadConfig({ ...productionEnv(), DATABASE_PREPARED_STATEMENTS: 'true' }).databasePreparedStatements).toBe(true);
    expect(() => loadConfig({ ...productionEnv(), DATABASE_PREPARED_STATEMENTS: 'no' })).toThrow(/DATABASE_PREPARED_STATEMENTS/);
  });

  it('reads EVENT_PARTITIONS_AHEAD_MONTHS (default 12) and refuses values outside 1..120', () => {
    expect(loadConfig(productionEnv()).eventPartitionsAheadMonths).toBe(12);
    expect(loadConfig({ ...productionEnv(), EVENT_PARTITIONS_AHEAD_MONTHS: '36' }).eventPartitionsAheadMonths).toBe(36);
    expect(loadConfig({ ...productionEnv(), EVENT_PARTITIONS_AHEAD_MONTHS: '120' }).eventPartitionsAheadMonths).toBe(120);
    for (const bad of ['0', '121', '-1', '1.5', 'twelve']) {
      expect(() => loadConfig({ ...productionEnv(), EVENT_PARTITIONS_AHEAD_MONTHS: bad })).toThrow(/^EVENT_PARTITIONS_AHEAD_MONTHS /);
    }
  });

  it('generates development keys once into dev-keys.json, with a warning, and reuses them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-config-'));
    const warnings: string[] = [];
    const first = loadConfig({ DATA_DIR: dir }, { warn: (m) => warnings.push(m) });
    expect(existsSync(join(dir, 'dev-keys.json'))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/dev-keys\.json/);
    const second = loadConfig({ DATA_DIR: dir }, { warn: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(second.keys.token.equals(first.keys.token)).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'dev-keys.json'), 'utf8'))).toHaveProperty('AUDIT_CHAIN_KEY');
    expect(first.databaseUrl).toBeUndefined();
    expect(first.auditCheckpointPath).toBe(join(dir, 'audit-checkpoints.jsonl'));
  });
});

describe('CONTENT_FLAG_WORDS_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custos-flag-words-'));
  let n = 0;
  const file = (text: string) => {
    const path = join(dir, `words-${++n}.json`);
    writeFileSync(path, text);
    return path;
  };
  const load = (path: string) => loadConfig({ ...productionEnv(), CONTENT_FLAG_WORDS_FILE: path });
  const refusal = (path: string): string => {
    try {
      load(path);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('\n');
      return (error as Error).message;
    }
    throw new Error('loadConfig accepted the file');
  };

  it('defaults to the built-in THREAT and FRAUD lists when unset or empty', () => {
    expect(loadConfig(productionEnv()).contentFlagWords).toEqual(DEFAULT_FLAG_WORDS);
    expect(loadConfig({ ...productionEnv(), CONTENT_FLAG_WORDS_FILE: '' }).contentFlagWords).toEqual(DEFAULT_FLAG_WORDS);
  });

  it('replaces the defaults with the file’s lists, in the file’s order, words trimmed', () => {
    const path = file(JSON.stringify({ FRAUD: [' betrug ', 'chargeback scheme'], MY_FLAG: ['x'] }));
    expect(load(path).contentFlagWords).toEqual({ FRAUD: ['betrug', 'chargeback scheme'], MY_FLAG: ['x'] });
    expect(Object.keys(load(path).contentFlagWords)).toEqual(['FRAUD', 'MY_FLAG']);
  });

  it('accepts a UTF-8 byte-order mark', () => {
    expect(load(file('\uFEFF{"THREAT": ["drohung"]}')).contentFlagWords).toEqual({ THREAT: ['drohung'] });
  });

  it('refuses a missing file', () => {
    expect(refusal(join(dir, 'missing.json'))).toMatch(/^CONTENT_FLAG_WORDS_FILE cannot be read \(.*missing\.json\): ENOENT$/);
  });

  it('refuses a directory', () => {
    expect(refusal(dir)).toMatch(/^CONTENT_FLAG_WORDS_FILE cannot be read/);
  });

  it('refuses invalid JSON', () => {
    expect(refusal(file('{"THREAT": ["kill",]}'))).toMatch(/^CONTENT_FLAG_WORDS_FILE is not valid JSON \(/);
  });

  it.each<[string, string, RegExp]>([
    ['a bad flag name', '{"threat": ["kill"]}', /^CONTENT_FLAG_WORDS_FILE flag name "threat" must match/],
    ['an empty list', '{"THREAT": []}', /^CONTENT_FLAG_WORDS_FILE THREAT must be a non-empty list of words$/],
    ['a blank word', '{"FRAUD": ["scam", " "]}', /^CONTENT_FLAG_WORDS_FILE FRAUD\[1\] must be a non-empty string/],
    ['a list instead of an object', '["kill"]', /^CONTENT_FLAG_WORDS_FILE must be a JSON object/],
    ['an empty object', '{}', /^CONTENT_FLAG_WORDS_FILE must name at least one flag$/],
  ])('refuses %s, naming the variable and the reason', (_label, text, reason) => {
    expect(refusal(file(text))).toMatch(reason);
  });
});
