import { maskEmail, maskFullName, maskNationalId, maskPhone } from '../../src/common/pii/masks';
import { startTestApp, type GraphQLResponse, type TestApp } from '../helpers/app';
import { createStaff, freshCode, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

const PRINCIPALS = ['ADMIN', 'COMPLIANCE_OFFICER', 'ANALYST', 'AGENT', 'ACCOUNT_MANAGER', 'AUDITOR', 'PARTNER'] as const;

/** SPEC §4 customer field matrix, transcribed cell by cell. */
const MATRIX: Record<string, Record<string, 'R' | 'M' | 'S' | '-'>> = {
  //              ADMIN CO   ANALYST AGENT AM   AUDITOR PARTNER
  externalRef: row('R', 'R', 'R', 'R', 'R', 'R', 'R'),
  status: row('R', 'R', 'R', 'R', 'R', 'R', 'R'),
  lifecycleStage: row('R', 'R', 'R', 'R', 'R', 'R', 'R'),
  verificationLevel: row('R', 'R', 'R', 'R', 'R', 'R', 'R'),
  createdAt: row('R', 'R', 'R', 'R', 'R', 'R', 'R'),
  fullName: row('M', 'R', 'R', 'R', 'R', '-', '-'),
  email: row('M', 'R', 'M', 'M', 'R', '-', '-'),
  phone: row('M', 'R', 'M', 'M', 'R', '-', '-'),
  nationalId: row('-', 'S', '-', 'M', '-', '-', '-'),
  dateOfBirth: row('-', 'S', '-', '-', 'R', '-', '-'),
  address: row('-', 'S', '-', '-', 'R', '-', '-'),
  riskScore: row('-', 'R', 'R', '-', 'R', '-', '-'),
  riskLevel: row('-', 'R', 'R', 'R', 'R', '-', '-'),
  riskFactors: row('-', 'R', 'R', '-', 'R', '-', '-'),
  creditScore: row('-', 'R', 'R', '-', 'R', '-', '-'),
  creditLevel: row('-', 'R', 'R', '-', 'R', '-', '-'),
  creditLimit: row('-', 'R', 'R', '-', 'R', '-', '-'),
  transactionLimit: row('-', 'R', 'R', 'R', 'R', '-', '-'),
  dailyLimit: row('-', 'R', 'R', 'R', 'R', '-', '-'),
};
function row(...cells: Array<'R' | 'M' | 'S' | '-'>) {
  return Object.fromEntries(PRINCIPALS.map((p, i) => [p, cells[i]]));
}

const MARKER = { fullName: 'Marker Alpha', email: 'marker.alpha@example.test', phone: '+86 139-0000-4321', nationalId: 'MK778899', dateOfBirth: '1985-06-07', address: '7 Marker Lane' };
/** What each customer was created with (and the defaults it starts with), per field, as a read returns it. */
const STORED: Record<string, unknown> = {
  ...MARKER, phone: '+8613900004321', externalRef: 'matrix-1', status: 'ACTIVE', lifecycleStage: 'ONBOARDING', verificationLevel: 'NONE', transactionLimit: '10000.00', dailyLimit: '20000.00',
};
/** The partner's customer: created without limits (the partner may not read them anyway). */
const PARTNER_STORED: Record<string, unknown> = {
  ...MARKER, email: 'marker.beta@example.test', phone: '+8613900004322', nationalId: 'MK778800', externalRef: 'matrix-2', status: 'ACTIVE', lifecycleStage: 'ONBOARDING', verificationLevel: 'NONE',
};
/** Partner tokens expire 30 days from now: never a fixed date that the calendar overtakes. */
const tokenExpiry = () => new Date(Date.now() + 30 * 24 * 3600_000).toISOString();
const MASKS: Record<string, (v: string) => string> = { fullName: maskFullName, email: maskEmail, phone: maskPhone, nationalId: maskNationalId };
const FIELDS = Object.keys(MATRIX);
const QUERY = `query($id: ID!) { customer(id: $id) { id ${FIELDS.map((f) => (f === 'riskFactors' ? 'riskFactors { factor points detail }' : f)).join(' ')} } }`;

describe('customers: the field matrix holds for every role and for partners', () => {
  let t: TestApp;
  let admin: SignedIn;
  const tokens: Record<string, string> = {};
  let staffCustomer: string;
  let partnerCustomer: string;
  const responses: Record<string, GraphQLResponse<{ customer: Record<string, unknown> }>> = {};

  beforeAll(async () => {
    t = await startTestApp();
    admin = await signInAdmin(t);
    tokens.ADMIN = admin.accessToken;
    const staff: Record<string, SignedIn> = {};
    for (const role of ['COMPLIANCE_OFFICER', 'ANALYST', 'AGENT', 'ACCOUNT_MANAGER', 'AUDITOR']) {
      staff[role] = await createStaff(t, admin, role);
      tokens[role] = staff[role].accessToken;
    }
    const created = await gqlOk<{ createCustomer: { id: string } }>(
      t.gql,
      'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }',
      { i: { externalRef: STORED.externalRef, ...MARKER, accountManagerId: staff.ACCOUNT_MANAGER.userId, transactionLimit: STORED.transactionLimit, dailyLimit: STORED.dailyLimit } },
      tokens.AGENT,
    );
    staffCustomer = created.createCustomer.id;
    const partner = await gqlOk<{ createPartner: { id: string } }>(t.gql, `mutation { createPartner(input: {name: "Matrix Bank", contactEmail: "m@bank.test", trustLevel: EXTERNAL, allowedScopes: ["customers:read", "customers:write"], agreementSignedAt: "${new Date(Date.now() - 86_400_000).toISOString()}", agreementExpiresAt: "${new Date(Date.now() + 365 * 86_400_000).toISOString()}"}) { id } }`, undefined, admin.accessToken);
    const issued = await gqlOk<{ issuePartnerToken: { token: string } }>(t.gql, 'mutation($p: ID!, $e: DateTime!) { issuePartnerToken(input: {partnerId: $p, name: "m", scopes: ["customers:read", "customers:write"], expiresAt: $e}) { token } }', { p: partner.createPartner.id, e: tokenExpiry() }, admin.accessToken);
    tokens.PARTNER = issued.issuePartnerToken.token;
    partnerCustomer = (await gqlOk<{ createCustomer: { id: string } }>(t.gql, 'mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }', { i: { externalRef: PARTNER_STORED.externalRef, ...MARKER, email: PARTNER_STORED.email, phone: PARTNER_STORED.phone, nationalId: PARTNER_STORED.nationalId } }, tokens.PARTNER)).createCustomer.id;
    for (const principal of PRINCIPALS) {
      responses[principal] = await t.gql(QUERY, { id: principal === 'PARTNER' ? partnerCustomer : staffCustomer }, { token: tokens[principal] });
    }
    // After step-up, the compliance officer reads the S fields in full.
    await gqlOk(t.gql, 'mutation($c: String!) { stepUp(code: $c) { expiresAt } }', { c: await freshCode(staff.COMPLIANCE_OFFICER.secret) }, tokens.COMPLIANCE_OFFICER);
    responses.COMPLIANCE_OFFICER_STEPPED_UP = await t.gql(QUERY, { id: staffCustomer }, { token: tokens.COMPLIANCE_OFFICER });
  }, 120_000);
  afterAll(() => t.close());

  const errorAt = (res: GraphQLResponse, field: string) => res.errors?.find((e) => e.path?.join('.') === `customer.${field}`)?.extensions?.code;

  const cases = PRINCIPALS.flatMap((principal) => FIELDS.map((field) => [principal, field, MATRIX[field][principal]] as const));
  it.each(cases)('%s reads %s as %s', (principal, field, cell) => {
    const res = responses[principal];
    expect(res.data?.customer).toBeTruthy();
    const value = res.data!.customer[field];
    const stored = principal === 'PARTNER' ? PARTNER_STORED[field] : STORED[field];
    if (cell === '-') {
      expect(value).toBeNull();
      expect(errorAt(res, field)).toBe('FORBIDDEN');
    } else if (cell === 'S') {
      expect(value).toBeNull();
      expect(errorAt(res, field)).toBe('STEP_UP_REQUIRED');
      const after = responses.COMPLIANCE_OFFICER_STEPPED_UP;
      expect(errorAt(after, field)).toBeUndefined();
      expect(after.data!.customer[field]).toBe(stored);
    } else {
      expect(errorAt(res, field)).toBeUndefined();
      // Every readable cell is delivered (possibly null, as a credit score before any assessment), never absent.
      expect(value).not.toBeUndefined();
      if (stored !== undefined) expect(value).toBe(cell === 'M' ? MASKS[field](String(stored)) : stored);
      // Cells compared with a value: everything the customer was created with; what it could not be (its
      // creation time, computed risk and credit) is checked for presence above.
      else expect(['createdAt', 'riskScore', 'riskLevel', 'riskFactors', 'creditScore', 'creditLevel', 'creditLimit']).toContain(field);
    }
  });

  it('a denied field never nulls the parent or its siblings', () => {
    const res = responses.AUDITOR;
    expect(res.data!.customer.id).toBe(staffCustomer);
    expect(res.data!.customer.externalRef).toBe('matrix-1');
    expect(res.errors!.every((e) => e.extensions!.code === 'FORBIDDEN')).toBe(true);
  });

  it('masks reveal nothing beyond their rule', () => {
    const c = responses.ANALYST.data!.customer;
    expect(c.email).toBe('m***@example.test');
    expect(c.phone).toBe('**********4321');
    expect(responses.AGENT.data!.customer.nationalId).toBe('****8899');
    expect(responses.ADMIN.data!.customer.fullName).toBe('M* A*');
  });

  it('the policy holds through aliases, fragments and lists', async () => {
    const res = await t.gql(
      `query($id: ID!) { a: customer(id: $id) { secret: nationalId ...F } list: customers(first: 5) { nodes { id mail: email dob: dateOfBirth } } }
       fragment F on Customer { address email }`,
      { id: staffCustomer },
      { token: tokens.ANALYST },
    );
    const paths = res.errors!.map((e) => `${e.path!.join('.')}:${e.extensions!.code}`).sort();
    expect(paths).toEqual(expect.arrayContaining(['a.secret:FORBIDDEN', 'a.address:FORBIDDEN', 'list.nodes.0.dob:FORBIDDEN']));
    const data = res.data as { a: Record<string, unknown>; list: { nodes: Array<Record<string, unknown>> } };
    expect(data.a.email).toBe('m***@example.test');
    expect(data.list.nodes[0].mail).toBe('m***@example.test');
    expect(data.a.secret).toBeNull();
    expect(data.a.address).toBeNull();
    expect(data.list.nodes[0].dob).toBeNull();
  });

  it('the generated permission matrix document is current', async () => {
    const { permissionMatrixMarkdown } = await import('../../src/access/permission-matrix');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${__dirname}/../../docs/PERMISSIONS.md`, 'utf8')).toBe(permissionMatrixMarkdown());
  });
});
