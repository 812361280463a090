import { startTestApp, type TestApp } from '../helpers/app';

describe('foundation: GraphQL over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers a query and stamps a request id', async () => {
    const res = await t.gql('{ __typename serverInfo { version time } }');
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ __typename: 'Query', serverInfo: { version: expect.any(String) } });
    expect(new Date((res.data as { serverInfo: { time: string } }).serverInfo.time).toISOString()).toBeTruthy();
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('echoes a safe incoming x-request-id and replaces an unsafe one', async () => {
    const kept = await t.gql('{ __typename }', undefined, { headers: { 'x-request-id': 'client-req-42' } });
    expect(kept.headers['x-request-id']).toBe('client-req-42');
    const replaced = await t.gql('{ __typename }', undefined, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers['x-request-id']).not.toContain('bad');
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
