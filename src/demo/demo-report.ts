export const DECISIONS = ['ALLOW', 'REVIEW', 'HOLD', 'BLOCK'] as const;

export interface RuleOutcome {
  rule: string;
  /** Customers given an anomaly aimed at this rule (the truth). */
  injected: number;
  /** Alerts of this rule on the demo's customers. */
  alerts: number;
  /** Injected customers the rule raised an alert for. */
  truePositives: number;
  /** Other demo customers the rule raised an alert for. */
  falsePositives: number;
  /** Injected customers without an alert of this rule. */
  falseNegatives: number;
  precision: number | null;
  recall: number | null;
}

export interface DemoReport {
  runId: string;
  database: string;
  dataDir: string;
  credentialsFile: string;
  options: { customers: number; days: number; seed: number };
  loaded: { customers: number; events: number; verifications: number; complaints: number; accountManagers: number };
  rules: RuleOutcome[];
  /** Every alert raised since the run started, of any kind. */
  alertsRaised: number;
  /** Alerts that are not rule alerts (SYSTEMIC complaint spikes, SLA_BREACH), by kind. */
  otherAlerts: Record<string, number>;
  /** Events per decision this run recorded (every event, partner-sent and Custos' own; earlier runs' left out). */
  decisions: Record<string, number>;
  /** Decisions the partner got back from ingestEvents. */
  ingestDecisions: Record<string, number>;
  /** This run's holds, and how many of them still wait for resolveHold. */
  holds: { placed: number; pending: number };
  complaintsByCategory: Record<string, number>;
  missed: Array<{ rule: string; customer: string }>;
  unexpected: Array<{ rule: string; customer: string; injectedFor: string | null }>;
  /** Events the API refused or could not process (the run fails when there are any). */
  failures: string[];
  /** Requests repeated after an internal error (the embedded database's connection interleaving), by message. */
  retried: { requests: number; reasons: Record<string, number> };
  /** Milliseconds per phase. */
  timings: Record<string, number>;
}

const pct = (x: number | null) => (x === null ? '   —' : `${(x * 100).toFixed(0).padStart(3)}%`);
const secs = (ms: number | undefined) => `${((ms ?? 0) / 1000).toFixed(1)}s`;

/** The human-readable report printed at the end of `npm run demo`. */
export function formatReport(r: DemoReport): string {
  const lines: string[] = [];
  const l = (s = '') => lines.push(s);
  l('');
  l(`Custos demo ${r.runId}: ${r.loaded.customers} customers, ${r.options.days} days, seed ${r.options.seed}`);
  l(`  database: ${r.database}`);
  l(
    `  loaded ${r.loaded.events} events via ingestEvents, ${r.loaded.verifications} verification results, ${r.loaded.complaints} complaints; ` +
      `${r.loaded.accountManagers} account managers`,
  );
  l('');
  l('What the rules caught against the injected truth (alerts on this run\'s customers):');
  l(`  ${'rule'.padEnd(26)} ${'injected'.padStart(8)} ${'alerts'.padStart(6)} ${'TP'.padStart(4)} ${'FP'.padStart(4)} ${'FN'.padStart(4)} ${'precision'.padStart(9)} ${'recall'.padStart(6)}`);
  for (const x of r.rules) {
    l(
      `  ${x.rule.padEnd(26)} ${String(x.injected).padStart(8)} ${String(x.alerts).padStart(6)} ${String(x.truePositives).padStart(4)} ${String(x.falsePositives).padStart(4)} ` +
        `${String(x.falseNegatives).padStart(4)} ${pct(x.precision).padStart(9)} ${pct(x.recall).padStart(6)}`,
    );
  }
  const sum = (k: 'injected' | 'truePositives' | 'falsePositives' | 'falseNegatives') => r.rules.reduce((n, x) => n + x[k], 0);
  const [tp, fp, fn] = [sum('truePositives'), sum('falsePositives'), sum('falseNegatives')];
  l(
    `  ${'all rules'.padEnd(26)} ${String(sum('injected')).padStart(8)} ${String(r.rules.reduce((n, x) => n + x.alerts, 0)).padStart(6)} ${String(tp).padStart(4)} ${String(fp).padStart(4)} ${String(fn).padStart(4)} ` +
      `${pct(tp + fp ? tp / (tp + fp) : null).padStart(9)} ${pct(tp + fn ? tp / (tp + fn) : null).padStart(6)}`,
  );
  for (const m of r.missed) l(`  MISSED: ${m.rule} did not fire for ${m.customer}`);
  for (const u of r.unexpected) l(`  unexpected: ${u.rule} fired for ${u.customer}${u.injectedFor ? ` (injected for ${u.injectedFor})` : ' (ordinary customer)'}`);
  const other = Object.entries(r.otherAlerts);
  if (other.length) l(`  other alerts: ${other.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  l('');
  l(`Decisions recorded: ${DECISIONS.map((d) => `${d} ${r.decisions[d] ?? 0}`).join(', ')}`);
  l(`  returned to the partner by ingestEvents: ${DECISIONS.map((d) => `${d} ${r.ingestDecisions[d] ?? 0}`).join(', ')}`);
  l(`Holds placed: ${r.holds.placed} (${r.holds.pending} pending resolveHold)`);
  l('');
  l(`Complaints by category: ${Object.entries(r.complaintsByCategory).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  l('');
  const t = r.timings;
  l(`Timings: start ${secs(t.startup)}, set-up ${secs(t.setup)}, customers ${secs(t.customers)}, events ${secs(t.events)}, checks and complaints ${secs(t.verificationsAndComplaints)}, report ${secs(t.report)}; total ${secs(t.total)}`);
  if (r.retried.requests) {
    l(`Retried ${r.retried.requests} request(s) after internal errors: ${Object.entries(r.retried.reasons).map(([m, n]) => `${n} × "${m}"`).join('; ')}`);
  }
  if (r.failures.length) {
    l('');
    l(`FAILED to load ${r.failures.length} event(s):`);
    for (const f of r.failures.slice(0, 10)) l(`  ${f}`);
  }
  l('');
  if (r.database.startsWith('embedded')) l(`Explore it: DATA_DIR=${r.dataDir} npm start, and sign in with the administrator, compliance officer or agent saved in ${r.credentialsFile} (passwords and TOTP secrets).`);
  else l(`The administrator the demo signed in as is saved in ${r.credentialsFile} (password and TOTP secret).`);
  return lines.join('\n');
}
