import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { buildSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { startTestApp, type TestApp } from '../helpers/app';

const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.graphql');

/** The schema the code serves, in the form committed at the repository root. */
export function printServedSchema(t: TestApp): string {
  const { schema } = t.app.get(GraphQLSchemaHost);
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

describe('schema.graphql', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('matches the schema the code serves (run `npm run schema:print` after changing the API)', () => {
    const served = printServedSchema(t);
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(SCHEMA_FILE, served);
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(served);
  });

  it('parses with graphql-js buildSchema (every scalar declared)', () => {
    expect(() => buildSchema(readFileSync(SCHEMA_FILE, 'utf8'))).not.toThrow();
  });
});
