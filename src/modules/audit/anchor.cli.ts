import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../../config/config';
import { dataSourceOptions } from '../../database/data-source-options';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../database/embedded-postgres';
import { verifyArchive, writeSegment } from './chain/anchor-archive';
import { AnchorRefusedError, sealAuditAnchor } from './chain/anchor-sealer';
import { loadAnchors, type ChainAnchor } from './chain/audit-anchor';

/**
 * `npm run audit:anchor`, against DATABASE_URL or, when unset, the embedded database, with the service's
 * AUDIT_CHAIN_KEY (docs/SECURITY.md, "Retention and archiving"):
 *
 * - `[--before=2026-11-01] [--segment=2026-10] [--by=OPS-123] [--out=FILE]` seals the chain anchor for the
 *   entries after the newest anchor that occurred before `--before` (default: the start of the current
 *   month, UTC) and, with `--out`, writes the segment's archive copy;
 * - `--copy=N --out=FILE` writes the archive copy of anchor N (sealed, not yet archived);
 * - `--verify-archive=FILE` checks an archive copy against its anchor.
 *
 * Archive copies are JSON lines in the `GET /audit/export` format. A command, not a scheduled job:
 * archiving is a deliberate operator step done outside the application (as the database superuser), and
 * the anchor must be sealed, with a cut-off the operator chose, right before it. Exit status: 0 when done
 * (or nothing to seal), 1 when refused (the segment or an anchor does not verify), invalid, or on error.
 */

interface Args {
  before: Date;
  segment?: string;
  sealedBy?: string;
  out?: string;
  copy?: string;
  verifyArchive?: string;
}

const USAGE = `Usage: npm run audit:anchor -- [--before=YYYY-MM-DD] [--segment=NAME] [--by=TICKET] [--out=FILE]
       npm run audit:anchor -- --copy=ANCHOR_ID --out=FILE
       npm run audit:anchor -- --verify-archive=FILE
`;

function startOfMonthUtc(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

function parseArgs(argv: string[]): Args {
  const args: Args = { before: startOfMonthUtc() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i] ?? '';
      if (!v) throw new ConfigError(`${name} needs a value`);
      return v;
    };
    if (name === '--before') {
      const raw = value();
      const before = new Date(raw);
      if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(before.getTime())) throw new ConfigError('--before must be an ISO date or instant, e.g. 2026-11-01');
      if (before.getTime() > Date.now()) throw new ConfigError('--before must not be in the future: only a closed period can be sealed');
      args.before = before;
    } else if (name === '--segment') {
      args.segment = value();
      if (!/^[\w .:+-]{1,100}$/.test(args.segment)) throw new ConfigError('--segment must be 1-100 letters, digits, spaces or . : + - _');
    } else if (name === '--by') {
      args.sealedBy = value();
      if (!/^[\w .:#/@+-]{1,100}$/.test(args.sealedBy)) throw new ConfigError('--by must be a short reference such as a ticket id (1-100 characters)');
    } else if (name === '--out') args.out = value();
    else if (name === '--copy') {
      args.copy = value();
      if (!/^\d{1,19}$/.test(args.copy)) throw new ConfigError('--copy must be an anchor id');
    } else if (name === '--verify-archive') args.verifyArchive = value();
    else if (name === '--help' || name === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new ConfigError(`unknown argument ${arg}\n${USAGE}`);
  }
  if (args.copy && !args.out) throw new ConfigError('--copy needs --out=FILE');
  return args;
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);

const describe = (a: ChainAnchor) => `anchor ${a.id} "${a.segment}" (entries ${a.firstId}..${a.lastId})`;

async function writeCopy(dataSource: DataSource, anchor: ChainAnchor, path: string): Promise<void> {
  const written = await writeSegment(dataSource, anchor, path);
  out(`Archive copy of ${describe(anchor)}: ${path}, ${written.entries} entries, sha256 ${written.sha256}`);
}

function printArchiveSteps(a: ChainAnchor, copy: string): void {
  out('');
  out('Next (docs/SECURITY.md, "Retention and archiving"):');
  out(`  1. store ${copy} and its sha256 on write-once storage; check the stored copy:`);
  out(`       npm run audit:anchor -- --verify-archive=${copy}`);
  out('  2. as the database superuser:');
  out(`       BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM audit_entry WHERE id BETWEEN ${a.firstId} AND ${a.lastId}; COMMIT;`);
  out('       VACUUM (ANALYZE) audit_entry;');
  out(`  3. verifyAuditChain is valid with anchoredFrom.id = ${a.id}`);
}

async function run(dataSource: DataSource, key: Buffer, args: Args): Promise<number> {
  if (args.verifyArchive) {
    const check = await verifyArchive(dataSource, key, args.verifyArchive);
    const which = check.anchor ? describe(check.anchor) : 'no anchor';
    if (check.valid) out(`OK: ${args.verifyArchive} holds the ${check.entries} entries of ${which}, intact and ending at its last hash.`);
    else err(`INVALID: ${args.verifyArchive} against ${which}: ${check.problem}`);
    return check.valid ? 0 : 1;
  }
  if (args.copy) {
    const anchor = (await loadAnchors(dataSource)).find((a) => a.id === args.copy);
    if (!anchor) throw new ConfigError(`no anchor ${args.copy}`);
    await writeCopy(dataSource, anchor, args.out!);
    printArchiveSteps(anchor, args.out!);
    return 0;
  }
  const result = await sealAuditAnchor(dataSource, key, args);
  if (!result.sealed) {
    out(`Nothing to seal: ${result.reason}.`);
    return 0;
  }
  const a = result.sealed;
  out(`Sealed ${describe(a)}: ${a.entryCount} entries, ${a.firstOccurredAt} .. ${a.lastOccurredAt}`);
  out(`  last hash   ${a.lastHash}`);
  out(`  anchor hash ${a.hash}`);
  out(`  recorded as audit entry ${result.auditEntryId} (audit.anchor_seal)`);
  const copy = args.out ?? `audit-${a.firstId}-${a.lastId}.jsonl`;
  if (args.out) await writeCopy(dataSource, a, args.out);
  else out(`Write its archive copy: npm run audit:anchor -- --copy=${a.id} --out=${copy}`);
  printArchiveSteps(a, copy);
  return 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfig(process.env, { warn: (m) => err(`WARNING: ${m}`) });
  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    err(`No DATABASE_URL: using the embedded database in ${config.dataDir}/pgdata (stop the app first: it is single-process)`);
    embedded = await startEmbeddedPostgres(config.dataDir);
  }
  const dataSource = new DataSource(
    dataSourceOptions(config.databaseUrl ?? embedded!.url, { entities: [], migrations: [], extra: { max: 2, application_name: 'custos-audit-anchor' } }),
  );
  try {
    await dataSource.initialize();
    return await run(dataSource, config.keys.auditChain, args);
  } catch (error) {
    if (error instanceof AnchorRefusedError) {
      err(`REFUSED: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    err(`audit:anchor failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
