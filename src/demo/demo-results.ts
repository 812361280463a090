import type { DemoClient } from './demo-client';
import { DEMO_RULES, type DemoDataset, type DemoRule } from './demo-data';
import { DECISIONS, type DemoReport, type RuleOutcome } from './demo-report';

interface AlertRow {
  kind: string;
  rule: { code: string } | null;
  customer: { id: string } | null;
}

/** Events per decision, and holds still pending, over the whole database. */
export interface DecisionCounts {
  decisions: Record<string, number>;
  pending: number;
}

/**
 * The database's events per decision and pending holds, read as a compliance officer would: one count per
 * request, since sibling fields resolve concurrently, which the embedded server handles badly.
 */
export async function decisionCounts(asCo: DemoClient): Promise<DecisionCounts> {
  const count = async (filter: Record<string, string>) =>
    (await asCo.ok<{ events: { totalCount: number } }>('query($f: EventsFilter) { events(first: 0, filter: $f) { totalCount } }', { f: filter })).events.totalCount;
  const decisions: Record<string, number> = {};
  for (const d of DECISIONS) decisions[d] = await count({ decision: d });
  return { decisions, pending: await count({ decision: 'HOLD', holdStatus: 'PENDING' }) };
}

/**
 * What the rules caught, read back through GraphQL as a compliance officer would. `before`: the counts read
 * before this run's first event, so that decisions and holds are this run's alone when `--force` adds a run
 * to a database that already holds others.
 */
export async function buildReport(
  asCo: DemoClient,
  data: DemoDataset,
  customerIds: string[],
  since: Date,
  before: DecisionCounts,
): Promise<Pick<DemoReport, 'rules' | 'otherAlerts' | 'decisions' | 'holds' | 'complaintsByCategory' | 'missed' | 'unexpected' | 'alertsRaised'>> {
  // Plain pages, one rule at a time: a node asking for both `rule` and `customer` would run two loaders at
  // once, and concurrent statements are what the embedded server mishandles (docs/DEMO.md).
  const from = new Date(since.getTime() - 60_000).toISOString();
  const pages = async <T>(query: string, variables: Record<string, unknown>): Promise<T[]> => {
    const rows: T[] = [];
    let after: string | null = null;
    do {
      const page: { alerts: { nodes: T[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await asCo.ok(query, { ...variables, after });
      rows.push(...page.alerts.nodes);
      after = page.alerts.pageInfo.hasNextPage ? page.alerts.pageInfo.endCursor : null;
    } while (after);
    return rows;
  };
  const kinds = await pages<{ kind: string }>(
    'query($after: String, $from: DateTime) { alerts(first: 100, after: $after, filter: {from: $from}) { nodes { kind } pageInfo { hasNextPage endCursor } } }',
    { from },
  );
  const { rules: ruleVersions } = await asCo.ok<{ rules: { nodes: Array<{ id: string; code: string }> } }>('{ rules(first: 100) { nodes { id code } } }');
  const ruleAlerts: AlertRow[] = [];
  for (const version of ruleVersions.nodes) {
    const rows = await pages<{ customer: { id: string } | null }>(
      'query($after: String, $from: DateTime, $rule: ID) { alerts(first: 100, after: $after, filter: {from: $from, ruleId: $rule}) { nodes { customer { id } } pageInfo { hasNextPage endCursor } } }',
      { from, rule: version.id },
    );
    for (const r of rows) ruleAlerts.push({ kind: 'RULE', rule: { code: version.code }, customer: r.customer });
  }

  const indexOf = new Map(customerIds.map((id, i) => [id, i]));
  const ours = ruleAlerts.filter((a) => a.customer && indexOf.has(a.customer.id));
  const rules: RuleOutcome[] = [];
  const missed: DemoReport['missed'] = [];
  const unexpected: DemoReport['unexpected'] = [];
  const ref = (i: number) => data.customers[i].externalRef;
  const rulesSeen = new Set<string>([...DEMO_RULES, ...ours.map((a) => a.rule!.code)]);
  for (const code of rulesSeen) {
    const truth = new Set(code in data.injected ? data.injected[code as DemoRule] : []);
    const hit = new Set(ours.filter((a) => a.rule!.code === code).map((a) => indexOf.get(a.customer!.id)!));
    const tp = [...truth].filter((i) => hit.has(i)).length;
    const fp = [...hit].filter((i) => !truth.has(i));
    const fn = [...truth].filter((i) => !hit.has(i));
    for (const i of fn) missed.push({ rule: code, customer: ref(i) });
    for (const i of fp) unexpected.push({ rule: code, customer: ref(i), injectedFor: data.customers[i].anomaly ?? null });
    rules.push({
      rule: code,
      injected: truth.size,
      alerts: ours.filter((a) => a.rule!.code === code).length,
      truePositives: tp,
      falsePositives: fp.length,
      falseNegatives: fn.length,
      precision: tp + fp.length === 0 ? null : tp / (tp + fp.length),
      recall: truth.size === 0 ? null : tp / truth.size,
    });
  }
  const otherAlerts: Record<string, number> = {};
  for (const a of kinds) if (a.kind !== 'RULE') otherAlerts[a.kind] = (otherAlerts[a.kind] ?? 0) + 1;

  const after = await decisionCounts(asCo);
  const decisions = Object.fromEntries(DECISIONS.map((d) => [d, after.decisions[d] - (before.decisions[d] ?? 0)]));
  const stats = await asCo.ok<{ complaintStats: Array<{ key: string; count: number }> }>(
    'query($i: ComplaintStatsInput!) { complaintStats(input: $i) { key count } }',
    { i: { from: new Date(since.getTime() - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString(), groupBy: 'CATEGORY' } },
  );
  return {
    rules,
    alertsRaised: kinds.length,
    otherAlerts,
    decisions,
    holds: { placed: decisions.HOLD, pending: after.pending - before.pending },
    complaintsByCategory: Object.fromEntries(stats.complaintStats.map((s) => [s.key, s.count])),
    missed,
    unexpected,
  };
}
