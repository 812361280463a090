import { adminQuery, templateName } from './postgres';

export default async function globalTeardown(): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${templateName()} WITH (FORCE)`);
}
