import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_FLAG_WORDS, validateFlagWords, type FlagWordLists } from './content-flag-words';

/** Raised when the environment cannot produce a valid configuration; its message is one line. */
export class ConfigError extends Error {}

const base64Key = z
  .string()
  .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, {
    message: 'must be base64 of exactly 32 bytes',
  });

const intFromEnv = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);

/** PII_KEYS = "v1:<base64>,v2:<base64>" → ordered map of label → 32-byte key. */
function parseKeyring(raw: string): Map<string, Buffer> {
  const ring = new Map<string, Buffer>();
  for (const [index, part] of raw.split(',').map((p) => p.trim()).filter(Boolean).entries()) {
    const match = /^(v\d+):(.+)$/.exec(part);
    // Named by position, never by content: an entry without its label is a bare key, and errors reach logs.
    if (!match) throw new ConfigError(`PII_KEYS entry ${index + 1} is not of the form v<N>:<base64>`);
    const parsed = base64Key.safeParse(match[2]);
    if (!parsed.success) throw new ConfigError(`PII_KEYS ${match[1]} ${parsed.error.issues[0].message}`);
    if (ring.has(match[1])) throw new ConfigError(`PII_KEYS lists ${match[1]} twice`);
    ring.set(match[1], Buffer.from(match[2], 'base64'));
  }
  if (ring.size === 0) throw new ConfigError('PII_KEYS must name at least one key (v1:<base64 32 bytes>)');
  return ring;
}

const notifyTransport = z
  .string()
  .regex(/^(log|file:.+|webhook:https?:\/\/.+)$/, 'must be log, file:<path> or webhook:<url>');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  /** Name (server-side prepare) the app's parameterised statements; off for poolers that cannot keep them. */
  DATABASE_PREPARED_STATEMENTS: z.enum(['true', 'false']).default('true'),
  // Timeouts of the serving app's pool, in milliseconds (0: none). Migrations and the CLIs have none.
  DATABASE_STATEMENT_TIMEOUT_MS: intFromEnv(30_000, 0),
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: intFromEnv(60_000, 0),
  DATABASE_POOL_ACQUIRE_TIMEOUT_MS: intFromEnv(10_000, 0),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  /** Namespaces this deployment's channels on a shared Redis, so two deployments never hear each other. */
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and : _ . - only (at most 64)').default('custos:'),
  PII_KEYS: z.string().optional(),
  PII_ACTIVE_KEY: z.string().optional(),
  BLIND_INDEX_KEY: base64Key.optional(),
  TOKEN_SECRET: base64Key.optional(),
  AUDIT_CHAIN_KEY: base64Key.optional(),
  AUDIT_CHECKPOINT_PATH: z.string().min(1).optional(),
  BOOTSTRAP_ADMIN_EMAIL: z.string().email().optional(),
  // 12–128 characters counted as code points, as every other password (an emoji is one character, not two).
  BOOTSTRAP_ADMIN_PASSWORD: z.string().refine((v) => [...v].length >= 12 && [...v].length <= 128, 'must be 12–128 characters').optional(),
  NOTIFY_TRANSPORT: notifyTransport.default('log'),
  GRAPHQL_MAX_DEPTH: intFromEnv(10),
  GRAPHQL_MAX_COST: intFromEnv(5000),
  GRAPHQL_MAX_ALIASES: intFromEnv(30),
  GRAPHQL_MAX_DIRECTIVES: intFromEnv(5),
  /** Executions of a document interpreted by graphql-js before it is compiled (0: compile at once). */
  GRAPHQL_COMPILE_AFTER: intFromEnv(1, 0),
  /** Open subscription sockets per user (over all their sessions) or per partner, on one instance. */
  GRAPHQL_MAX_SOCKETS_PER_PRINCIPAL: intFromEnv(20),
  WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  /** When set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (at least 32 characters). */
  METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d+|[0-9a-fA-F:.,/ a-z]+)$/, 'must be true, false, a hop count or a list of addresses/subnets')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('.data'),
  /** JSON file of content-flag word lists; replaces the built-in THREAT and FRAUD lists. */
  CONTENT_FLAG_WORDS_FILE: z.string().min(1).optional(),
  // Security-alert thresholds (audit module; SPEC §5, §8).
  SECURITY_ALERT_PII_READ_CUSTOMERS: intFromEnv(50),
  SECURITY_ALERT_PII_READ_WINDOW_MINUTES: intFromEnv(60),
  SECURITY_ALERT_DENIED_REQUESTS: intFromEnv(10),
  SECURITY_ALERT_DENIED_WINDOW_MINUTES: intFromEnv(10),
  // Identity rate limits and lockout (SPEC §8 "Rate-limit defaults"; all per minute unless named otherwise).
  RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE: intFromEnv(600),
  RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE: intFromEnv(6000),
  RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE: intFromEnv(60),
  RATE_LIMIT_UNAUTHENTICATED_PER_IP_PER_MINUTE: intFromEnv(60),
  RATE_LIMIT_BLIND_INDEX_LOOKUPS_PER_MINUTE: intFromEnv(60),
  RATE_LIMIT_PARTNER_EVENTS_EXTERNAL_PER_MINUTE: intFromEnv(100_000),
  RATE_LIMIT_PARTNER_EVENTS_INTERNAL_PER_MINUTE: intFromEnv(3_000_000),
  // One-time codes started per customer in 15 minutes (verification; a 4th start is RATE_LIMITED).
  RATE_LIMIT_CUSTOMER_OTP_STARTS_PER_15_MINUTES: intFromEnv(3),
  LOCKOUT_IP_FAILURES: intFromEnv(100),
  LOCKOUT_ACCOUNT_FAILURES: intFromEnv(10),
  LOCKOUT_WINDOW_MINUTES: intFromEnv(15),
  LOCKOUT_DURATION_MINUTES: intFromEnv(15),
  // Monthly event partitions the maintenance job keeps created past the current month (SPEC §7).
  EVENT_PARTITIONS_AHEAD_MONTHS: z.coerce.number().int().min(1).max(120).default(12),
  /** How long a LOCK_LOGIN hit locks the customer's login (SPEC §8: default 30 minutes); at most a week. */
  LOGIN_LOCK_MINUTES: z.coerce.number().int().min(1).max(10_080).default(30),
  /** Customer snapshots the ingest path keeps between calls (0: read every call's customers), and for how long. */
  INGEST_CUSTOMER_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  INGEST_CUSTOMER_CACHE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(60),
});

export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  /** Undefined means: start the embedded PGlite server under dataDir. */
  databaseUrl?: string;
  /** DATABASE_PREPARED_STATEMENTS: the pool's clients prepare their parameterised statements (real PostgreSQL only). */
  databasePreparedStatements: boolean;
  /**
   * The serving app's pool, in milliseconds, 0 meaning none: `statementMs` and `idleInTransactionMs` are the
   * server's statement_timeout and idle_in_transaction_session_timeout for its sessions; `poolAcquireMs` is
   * how long a request waits for a free connection (or a new one to open) before it fails.
   */
  databaseTimeouts: { statementMs: number; idleInTransactionMs: number; poolAcquireMs: number };
  redisUrl?: string;
  redisKeyPrefix: string;
  dataDir: string;
  keys: {
    pii: Map<string, Buffer>;
    piiActive: string;
    blindIndex: Buffer;
    token: Buffer;
    auditChain: Buffer;
  };
  auditCheckpointPath: string;
  bootstrapAdmin: { email: string; password?: string };
  notifyTransport: string;
  /** `compileAfter`: executions of a document interpreted before it is compiled (graphql-jit). */
  graphql: { maxDepth: number; maxCost: number; maxAliases: number; maxDirectives: number; compileAfter: number; maxSocketsPerPrincipal: number };
  webhookAllowPrivate: boolean;
  /** Express `trust proxy`: which hops may set X-Forwarded-For (the client IP used by limits and audit). */
  trustProxy: boolean | number | string;
  logLevel: string;
  /** The bearer token GET /metrics requires; undefined: the endpoint is open (keep it off the public network). */
  metricsToken?: string;
  /** Security-alert thresholds: PII_READ_SPIKE fires above `piiReadCustomers`, DENIED_BURST at `deniedRequests`. */
  securityAlerts: { piiReadCustomers: number; piiReadWindowMs: number; deniedRequests: number; deniedWindowMs: number };
  /** Identity rate limits (operations or events per minute) and sign-in lockout. */
  rateLimits: {
    staffOperations: number;
    partnerOperations: number;
    signInPerIp: number;
    unauthenticatedPerIp: number;
    blindIndexLookups: number;
    partnerEventsExternal: number;
    partnerEventsInternal: number;
    /** One-time codes started per customer in 15 minutes. */
    customerOtpResend: number;
  };
  lockout: { ipFailures: number; accountFailures: number; windowMs: number; lockMs: number };
  /** Months past the current one for which the event-partition job keeps monthly partitions (1..120). */
  eventPartitionsAheadMonths: number;
  /** INGEST_CUSTOMER_CACHE_SIZE and INGEST_CUSTOMER_CACHE_SECONDS (in milliseconds). */
  ingestCustomerCache: { size: number; ttlMs: number };
  /** LOGIN_LOCK_MINUTES in milliseconds. */
  loginLockMs: number;
  /** Flag name → words that set it on COMMUNICATION content (CONTENT_FLAG_WORDS_FILE, else the built-in lists). */
  contentFlagWords: FlagWordLists;
}

/** Variables a production deployment must set; nothing is generated for it. */
const PRODUCTION_REQUIRED = ['DATABASE_URL', 'PII_KEYS', 'BLIND_INDEX_KEY', 'TOKEN_SECRET', 'AUDIT_CHAIN_KEY'] as const;

interface DevKeys {
  PII_KEYS: string;
  BLIND_INDEX_KEY: string;
  TOKEN_SECRET: string;
  AUDIT_CHAIN_KEY: string;
}

export interface LoadConfigOptions {
  /** Called once with a human warning when development keys had to be generated. */
  warn?: (message: string) => void;
}

/**
 * Reads and validates the environment once. In production every secret must be supplied; in development
 * missing secrets come from `<DATA_DIR>/dev-keys.json`, generated on first use.
 */
export function loadConfig(rawEnv: NodeJS.ProcessEnv, options: LoadConfigOptions = {}): AppConfig {
  // An empty variable (compose's `${VAR:-}`) means unset.
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const isProduction = env.NODE_ENV === 'production';
  if (isProduction) {
    const missing = PRODUCTION_REQUIRED.filter((name) => !env[name]);
    if (missing.length) throw new ConfigError(`production mode requires ${missing.join(', ')}`);
  }
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${issue.path.join('.')} ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);

  let secrets: DevKeys;
  if (e.PII_KEYS && e.BLIND_INDEX_KEY && e.TOKEN_SECRET && e.AUDIT_CHAIN_KEY) {
    secrets = { PII_KEYS: e.PII_KEYS, BLIND_INDEX_KEY: e.BLIND_INDEX_KEY, TOKEN_SECRET: e.TOKEN_SECRET, AUDIT_CHAIN_KEY: e.AUDIT_CHAIN_KEY };
  } else {
    const dev = loadOrCreateDevKeys(dataDir, options.warn);
    secrets = {
      PII_KEYS: e.PII_KEYS ?? dev.PII_KEYS,
      BLIND_INDEX_KEY: e.BLIND_INDEX_KEY ?? dev.BLIND_INDEX_KEY,
      TOKEN_SECRET: e.TOKEN_SECRET ?? dev.TOKEN_SECRET,
      AUDIT_CHAIN_KEY: e.AUDIT_CHAIN_KEY ?? dev.AUDIT_CHAIN_KEY,
    };
  }
  const pii = parseKeyring(secrets.PII_KEYS);
  const versions = [...pii.keys()].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const piiActive = e.PII_ACTIVE_KEY ?? versions[versions.length - 1];
  if (!pii.has(piiActive)) throw new ConfigError(`PII_ACTIVE_KEY ${piiActive} is not one of PII_KEYS (${versions.join(', ')})`);
  const contentFlagWords = loadContentFlagWords(e.CONTENT_FLAG_WORDS_FILE);

  return {
    nodeEnv: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS === 'true',
    databaseTimeouts: {
      statementMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      idleInTransactionMs: e.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      poolAcquireMs: e.DATABASE_POOL_ACQUIRE_TIMEOUT_MS,
    },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    dataDir,
    keys: {
      pii,
      piiActive,
      blindIndex: Buffer.from(secrets.BLIND_INDEX_KEY, 'base64'),
      token: Buffer.from(secrets.TOKEN_SECRET, 'base64'),
      auditChain: Buffer.from(secrets.AUDIT_CHAIN_KEY, 'base64'),
    },
    auditCheckpointPath: resolve(e.AUDIT_CHECKPOINT_PATH ?? join(dataDir, 'audit-checkpoints.jsonl')),
    bootstrapAdmin: { email: (e.BOOTSTRAP_ADMIN_EMAIL ?? 'admin@custos.local').trim().toLowerCase(), password: e.BOOTSTRAP_ADMIN_PASSWORD },
    notifyTransport: e.NOTIFY_TRANSPORT,
    graphql: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxCost: e.GRAPHQL_MAX_COST,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      compileAfter: e.GRAPHQL_COMPILE_AFTER,
      maxSocketsPerPrincipal: e.GRAPHQL_MAX_SOCKETS_PER_PRINCIPAL,
    },
    webhookAllowPrivate: e.WEBHOOK_ALLOW_PRIVATE === 'true',
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN,
    securityAlerts: {
      piiReadCustomers: e.SECURITY_ALERT_PII_READ_CUSTOMERS,
      piiReadWindowMs: e.SECURITY_ALERT_PII_READ_WINDOW_MINUTES * 60_000,
      deniedRequests: e.SECURITY_ALERT_DENIED_REQUESTS,
      deniedWindowMs: e.SECURITY_ALERT_DENIED_WINDOW_MINUTES * 60_000,
    },
    rateLimits: {
      staffOperations: e.RATE_LIMIT_STAFF_OPERATIONS_PER_MINUTE,
      partnerOperations: e.RATE_LIMIT_PARTNER_OPERATIONS_PER_MINUTE,
      signInPerIp: e.RATE_LIMIT_SIGN_IN_PER_IP_PER_MINUTE,
      unauthenticatedPerIp: e.RATE_LIMIT_UNAUTHENTICATED_PER_IP_PER_MINUTE,
      blindIndexLookups: e.RATE_LIMIT_BLIND_INDEX_LOOKUPS_PER_MINUTE,
      partnerEventsExternal: e.RATE_LIMIT_PARTNER_EVENTS_EXTERNAL_PER_MINUTE,
      partnerEventsInternal: e.RATE_LIMIT_PARTNER_EVENTS_INTERNAL_PER_MINUTE,
      customerOtpResend: e.RATE_LIMIT_CUSTOMER_OTP_STARTS_PER_15_MINUTES,
    },
    lockout: {
      ipFailures: e.LOCKOUT_IP_FAILURES,
      accountFailures: e.LOCKOUT_ACCOUNT_FAILURES,
      windowMs: e.LOCKOUT_WINDOW_MINUTES * 60_000,
      lockMs: e.LOCKOUT_DURATION_MINUTES * 60_000,
    },
    eventPartitionsAheadMonths: e.EVENT_PARTITIONS_AHEAD_MONTHS,
    ingestCustomerCache: { size: e.INGEST_CUSTOMER_CACHE_SIZE, ttlMs: e.INGEST_CUSTOMER_CACHE_SECONDS * 1000 },
    loginLockMs: e.LOGIN_LOCK_MINUTES * 60_000,
    contentFlagWords,
  };
}

/** Unset: the built-in lists. Set: the file's lists replace them entirely; any problem refuses the start. */
function loadContentFlagWords(file: string | undefined): FlagWordLists {
  if (!file) return structuredClone(DEFAULT_FLAG_WORDS) as FlagWordLists;
  const path = resolve(file);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`CONTENT_FLAG_WORDS_FILE cannot be read (${path}): ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(`CONTENT_FLAG_WORDS_FILE is not valid JSON (${path}): ${(error as Error).message.split('\n')[0]}`);
  }
  const result = validateFlagWords(parsed);
  if (typeof result === 'string') throw new ConfigError(`CONTENT_FLAG_WORDS_FILE ${result}`);
  return result;
}

/** Unset: no proxy is trusted, the client IP is the socket's (X-Forwarded-For cannot be spoofed). */
function parseTrustProxy(raw: string | undefined): boolean | number | string {
  if (!raw || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
}

function loadOrCreateDevKeys(dataDir: string, warn?: (message: string) => void): DevKeys {
  const file = join(dataDir, 'dev-keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevKeys;
  const key = () => randomBytes(32).toString('base64');
  const keys: DevKeys = { PII_KEYS: `v1:${key()}`, BLIND_INDEX_KEY: key(), TOKEN_SECRET: key(), AUDIT_CHAIN_KEY: key() };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  warn?.(`Generated development keys in ${file}. Never use them in production; set PII_KEYS, BLIND_INDEX_KEY, TOKEN_SECRET and AUDIT_CHAIN_KEY instead.`);
  return keys;
}
