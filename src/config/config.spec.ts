import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';

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
    expect(config.graphql).toEqual({ maxDepth: 10, maxCost: 5000, maxAliases: 30, maxDirectives: 5 });
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
  });

  it('refuses malformed secrets and settings', () => {
    expect(() => loadConfig({ ...productionEnv(), TOKEN_SECRET: 'c2hvcnQ=' })).toThrow(/TOKEN_SECRET must be base64 of exactly 32 bytes/);
    expect(() => loadConfig({ ...productionEnv(), PII_KEYS: 'key1' })).toThrow(/PII_KEYS/);
    expect(() => loadConfig({ ...productionEnv(), PII_KEYS: `v1:${key()}`, PII_ACTIVE_KEY: 'v3' })).toThrow(/PII_ACTIVE_KEY v3/);
    expect(() => loadConfig({ ...productionEnv(), DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ ...productionEnv(), GRAPHQL_MAX_DEPTH: 'ten' })).toThrow(/GRAPHQL_MAX_DEPTH/);
    expect(() => loadConfig({ ...productionEnv(), NOTIFY_TRANSPORT: 'smtp://x' })).toThrow(/NOTIFY_TRANSPORT/);
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
