import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACCESS_REFUSAL_ACTIONS } from '../audit.settings';

/** DENIED outcomes that are not the actor's own access refused (audit.settings.ts says why): DENIED_BURST leaves them out. */
const NOT_ACCESS_REFUSALS = ['verification.complete'];

const SRC = join(__dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('DENIED_BURST: which DENIED entries are access refusals', () => {
  // Everything but the list itself.
  const code = sources(SRC).filter((path) => !path.endsWith('audit.settings.ts')).map((path) => readFileSync(path, 'utf8')).join('\n');

  it('classifies every action the code records as DENIED', () => {
    // `action: 'x', outcome: 'DENIED'` and `action: 'x', outcome: ok ? 'SUCCESS' : 'DENIED'`; sign-in steps pass
    // their action as a variable and are listed by hand.
    const denied = new Set([...code.matchAll(/action: '([a-z_.]+)',\s*outcome: [^,}]*'DENIED'/g)].map((m) => m[1]));
    expect([...denied]).toEqual(expect.arrayContaining(['access.denied', 'customer.read', 'verification.complete']));
    const unclassified = [...denied].filter((action) => !ACCESS_REFUSAL_ACTIONS.includes(action) && !NOT_ACCESS_REFUSALS.includes(action));
    expect(unclassified).toEqual([]);
  });

  it('names only actions the code records', () => {
    expect(ACCESS_REFUSAL_ACTIONS.filter((action) => !code.includes(`'${action}'`))).toEqual([]);
  });
});
