'use strict';
/** The client side of the benchmarks: GraphQL over fetch, the real staff sign-in (TOTP), accounts, seeding. */

const { randomBytes, createHmac } = require('node:crypto');
const { pool, randomIp } = require('./util');

/**
 * Staff accounts may run 600 operations a minute (RATE_LIMITS.staffOperations, no env override): a bench
 * never sends more than this through one account.
 */
const OPS_PER_ACCOUNT = 550;
const SEED_CONCURRENCY = 8;
const SIGNIN_CONCURRENCY = 4;

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) from a base32 secret. */
function totp(secret, atMs = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const ch of secret.toUpperCase().replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 30_000)));
  const h = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

function gqlClient(url) {
  /** POST /graphql; `ip` becomes X-Forwarded-For (TRUST_PROXY=loopback), so sign-ins spread over per-IP limits. */
  async function call(query, variables, { token, ip, count } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (ip) headers['x-forwarded-for'] = ip;
    // `count: 'sql'` also has the app keep the text of each statement (bench/lib/app-process.js).
    if (count) headers['x-bench-count'] = count === true ? '1' : String(count);
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = { errors: [{ message: `HTTP ${res.status}: ${text.slice(0, 200)}` }] };
    }
    return { status: res.status, body };
  }
  async function ok(query, variables, options) {
    const { status, body } = await call(query, variables, options);
    if (status !== 200 || body.errors?.length || !body.data) {
      throw new Error(`GraphQL ${status}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
    }
    return body.data;
  }
  return { url, call, ok };
}

/** The real sign-in: login → (password change) → TOTP enrollment → session. Returns the access token. */
async function signIn(gql, email, password) {
  const ip = randomIp();
  let { login } = await gql.ok(
    'mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { challengeToken next } }',
    { e: email, p: password },
    { ip },
  );
  if (login.next === 'PASSWORD_CHANGE_REQUIRED') {
    const r = await gql.ok(
      'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }',
      { c: login.challengeToken, p: `${password}-renewed` },
      { ip },
    );
    login = r.completePasswordChange;
  }
  if (login.next !== 'ENROLLMENT_REQUIRED') throw new Error(`sign-in of ${email}: unexpected next step ${login.next}`);
  const { beginTotpEnrollment } = await gql.ok(
    'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }',
    { c: login.challengeToken },
    { ip },
  );
  const { completeTotpEnrollment } = await gql.ok(
    'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken user { id role } } }',
    { c: login.challengeToken, code: totp(beginTotpEnrollment.secret) },
    { ip },
  );
  return completeTotpEnrollment.accessToken;
}

let staffCounter = 0;
/** Creates a staff account (as the admin) and signs it in; returns its access token. */
async function createStaff(gql, adminToken, role) {
  const n = ++staffCounter;
  const email = `bench-${role.toLowerCase().replace(/_/g, '-')}-${n}@custos.test`;
  const password = `bench-initial-password-${n}-${randomBytes(4).toString('hex')}`;
  await gql.ok(
    'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }',
    { i: { email, displayName: `Bench ${role} ${n}`, role, initialPassword: password } },
    { token: adminToken },
  );
  return signIn(gql, email, password);
}

/** `count` signed-in COMPLIANCE_OFFICER accounts (PII in full); returns their access tokens. */
async function createOfficers(gql, adminToken, count) {
  const tokens = [];
  await pool(count, SIGNIN_CONCURRENCY, async () => {
    tokens.push(await createStaff(gql, adminToken, 'COMPLIANCE_OFFICER'));
  });
  return tokens;
}

/** Accounts enough that none passes OPS_PER_ACCOUNT when a run goes at `rate` req/s for `seconds` (50 % margin). */
function accountsFor(rate, seconds, connections, max = 500) {
  return Math.min(max, Math.ceil(((rate * seconds + connections) * 1.5) / OPS_PER_ACCOUNT) + 1);
}

/** The createCustomer input of seeded customer `i` (the plaintext the reads must return). */
function seedInput(i) {
  const n = String(i).padStart(5, '0');
  return {
    externalRef: `bench-${n}`,
    fullName: `Bench Customer ${n}`,
    email: `customer-${n}@bench.example`,
    phone: `+86139${String(i).padStart(8, '0')}`,
    nationalId: `ID-${n}-${(i * 7919) % 10000}`,
    dateOfBirth: `19${70 + (i % 30)}-0${1 + (i % 9)}-1${i % 10}`,
    address: `${i} Benchmark Street, Test City`,
    transactionLimit: String(1000 + i),
  };
}

/** Creates `count` customers through `createCustomer` (tokens[k] makes customers k·OPS_PER_ACCOUNT…); returns their ids in seed order. */
async function seed(gql, tokens, count) {
  const ids = new Array(count);
  await pool(count, SEED_CONCURRENCY, async (i) => {
    const token = tokens[Math.floor(i / OPS_PER_ACCOUNT)];
    const data = await gql.ok('mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: seedInput(i) }, { token });
    ids[i] = data.createCustomer.id;
  });
  return ids;
}

module.exports = { OPS_PER_ACCOUNT, totp, gqlClient, signIn, createStaff, createOfficers, accountsFor, seedInput, seed };
