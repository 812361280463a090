import 'reflect-metadata';
import { ConfigError } from '../config/config';
import { DemoRefusal, runDemo } from './demo-runner';
import { formatReport } from './demo-report';

/**
 * `npm run demo [-- --customers N --days D --seed S --batch-size B --reset --force --data-dir DIR]`: loads
 * synthetic customers, their events with known injected anomalies and complaints through the GraphQL API,
 * then prints what the rules caught against the injected truth (docs/DEMO.md).
 *
 * Progress on stderr, the report on stdout. Exit status 0 when everything loaded; 1 when loading failed;
 * 2 when the demo refused to run (a database with customers, a bad flag).
 */

export interface DemoArgs {
  customers: number;
  days: number;
  seed: number;
  batchSize: number;
  reset: boolean;
  force: boolean;
  dataDir?: string;
  json: boolean;
  trace: boolean;
}

const USAGE = `Usage: npm run demo -- [options]
  --customers N    customers to create (default 200)
  --days D         days of ordinary activity before now (default 90)
  --seed S         random seed; the same seed gives the same data (default 42)
  --batch-size B   events per ingestEvents call, 1–1000 (default 1000)
  --reset          wipe the embedded demo database first (not with DATABASE_URL)
  --force          load even though the database already has customers
  --data-dir DIR   where the embedded demo database lives (default: $DATA_DIR/demo, i.e. .data/demo)
  --json           print the report as JSON instead of text
  --trace          log every API request and its duration on stderr`;

export function parseDemoArgs(argv: string[]): DemoArgs {
  const args: DemoArgs = { customers: 200, days: 90, seed: 42, batchSize: 1000, reset: false, force: false, json: false, trace: false };
  const ints: Record<string, [keyof DemoArgs, number, number]> = {
    '--customers': ['customers', 1, 100_000],
    '--days': ['days', 14, 365],
    '--seed': ['seed', 0, 2 ** 31 - 1],
    '--batch-size': ['batchSize', 1, 1000],
  };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    if (name in ints) {
      const [key, min, max] = ints[name];
      const raw = inline ?? argv[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}`);
      (args as unknown as Record<string, number>)[key] = n;
    } else if (name === '--data-dir') {
      const raw = inline ?? argv[++i];
      if (!raw) throw new ConfigError('--data-dir needs a directory');
      args.dataDir = raw;
    } else if (name === '--reset') args.reset = true;
    else if (name === '--force') args.force = true;
    else if (name === '--json') args.json = true;
    else if (name === '--trace') args.trace = true;
    else if (name === '--help' || name === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new ConfigError(`unknown argument ${argv[i]}\n${USAGE}`);
  }
  return args;
}

async function main(): Promise<number> {
  const args = parseDemoArgs(process.argv.slice(2));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const report = await runDemo({ ...args, env: process.env, say: args.json ? (l) => process.stderr.write(`${l}\n`) : say, progress: process.stderr });
  say(args.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return report.failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof DemoRefusal || error instanceof ConfigError) {
      process.stderr.write(`demo: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
