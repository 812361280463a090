import { TotpCodes } from '../modules/identity/auth/totp-codes';

/** A GraphQL error as the API sends it. */
export interface GqlError {
  message: string;
  path?: Array<string | number>;
  extensions?: Record<string, unknown>;
}

export class DemoRequestError extends Error {
  constructor(
    readonly operation: string,
    readonly errors: GqlError[],
  ) {
    super(`${operation}: ${errors.map((e) => `${String(e.extensions?.code ?? 'ERROR')} ${e.message}`).slice(0, 3).join('; ')}`);
  }
}

/**
 * A plain GraphQL-over-HTTP client for the demo: the same requests a front end or a partner integration
 * sends (POST /graphql, bearer token), so the demo exercises the real paths — guard, validation, audit.
 */
export class DemoClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
    /** Requests repeated after an internal error, shared by every client derived with `as`. */
    readonly retried: { count: number; reasons: Map<string, number> } = { count: 0, reasons: new Map() },
    /** `--trace`: every request and its duration on this stream. */
    private readonly trace?: { write(chunk: string): unknown },
  ) {}

  as(token: string): DemoClient {
    return new DemoClient(this.url, token, this.retried, this.trace);
  }

  /**
   * The whole response, errors included (ingestEvents reports bad events per index). A request that failed
   * with INTERNAL_SERVER_ERROR (or UNAUTHENTICATED despite a token that was just issued) is repeated a few times: the embedded PGlite server can interleave statements of
   * concurrent connections (see docs/DEMO.md); the failed request was rolled back, and events carry
   * idempotency keys, so repeating it is safe.
   */
  async raw<T>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T | null; errors?: GqlError[] }> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.once<T>(query, variables);
      // A valid token refused as UNAUTHENTICATED is the same interleaving seen from the token lookup.
      const internal = res.errors?.find((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR' || (this.token && e.extensions?.code === 'UNAUTHENTICATED'));
      if (!internal || attempt >= MAX_ATTEMPTS) return res;
      this.retried.count++;
      this.retried.reasons.set(internal.message, (this.retried.reasons.get(internal.message) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }

  private async once<T>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T | null; errors?: GqlError[] }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'apollo-require-preflight': 'true' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const traceStart = Date.now();
    this.trace?.write(`[trace] > ${operationName(query)}\n`);
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw new Error(`${operationName(query)}: no answer within ${REQUEST_TIMEOUT_MS / 1000}s (is the database stuck?)`);
      throw error;
    }
    const text = await res.text();
    this.trace?.write(`[trace] < ${operationName(query)} ${res.status} ${Date.now() - traceStart}ms\n`);
    try {
      return JSON.parse(text) as { data?: T | null; errors?: GqlError[] };
    } catch {
      throw new Error(`HTTP ${res.status} from ${this.url}: ${text.slice(0, 200)}`);
    }
  }

  /** Data, or a DemoRequestError naming the operation when any error came back. */
  async ok<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await this.raw<T>(query, variables);
    if (res.errors?.length || !res.data) throw new DemoRequestError(operationName(query), res.errors ?? [{ message: 'no data' }]);
    return res.data;
  }
}

const MAX_ATTEMPTS = 5;
/** A generous bound: a batch of 1000 events takes a few seconds; no answer at all means something is stuck. */
const REQUEST_TIMEOUT_MS = 180_000;

function operationName(query: string): string {
  return /\{\s*(\w+)/.exec(query)?.[1] ?? 'request';
}

export interface StaffSession {
  email: string;
  password: string;
  totpSecret: string;
  accessToken: string;
  userId: string;
}

const totp = new TotpCodes();
const freshCode = (secret: string): Promise<string> => totp.fresh(secret);

/**
 * The real staff sign-in: login → (replace an admin-set password) → TOTP enrolment, or a TOTP code when the
 * user is enrolled already (`totpSecret` given). Returns what a later run needs to sign in again.
 */
export async function signIn(client: DemoClient, email: string, password: string, totpSecret?: string): Promise<StaffSession> {
  let { login } = await client.ok<{ login: { challengeToken: string; next: string } }>(
    'mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) { challengeToken next } }',
    { email, password },
  );
  if (login.next === 'PASSWORD_CHANGE_REQUIRED') {
    password = `${password}-own`;
    login = (
      await client.ok<{ completePasswordChange: { challengeToken: string; next: string } }>(
        'mutation($c: String!, $p: String!) { completePasswordChange(challengeToken: $c, newPassword: $p) { challengeToken next } }',
        { c: login.challengeToken, p: password },
      )
    ).completePasswordChange;
  }
  if (login.next === 'ENROLLMENT_REQUIRED') {
    const { beginTotpEnrollment } = await client.ok<{ beginTotpEnrollment: { secret: string } }>(
      'mutation($c: String!) { beginTotpEnrollment(challengeToken: $c) { secret } }',
      { c: login.challengeToken },
    );
    const secret = beginTotpEnrollment.secret;
    const { completeTotpEnrollment: s } = await client.ok<{ completeTotpEnrollment: { accessToken: string; user: { id: string } } }>(
      'mutation($c: String!, $code: String!) { completeTotpEnrollment(challengeToken: $c, code: $code) { accessToken user { id } } }',
      { c: login.challengeToken, code: await freshCode(secret) },
    );
    return { email, password, totpSecret: secret, accessToken: s.accessToken, userId: s.user.id };
  }
  if (!totpSecret) throw new Error(`${email} is enrolled in TOTP already and the demo does not know its secret`);
  const { verifyTotp: s } = await client.ok<{ verifyTotp: { accessToken: string; user: { id: string } } }>(
    'mutation($c: String!, $code: String!) { verifyTotp(challengeToken: $c, code: $code) { accessToken user { id } } }',
    { c: login.challengeToken, code: await freshCode(totpSecret) },
  );
  return { email, password, totpSecret, accessToken: s.accessToken, userId: s.user.id };
}
