import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { PiiVault } from '../common/crypto/pii-vault.service';
import { ConfigError, loadConfig } from '../config/config';
import { dataSourceOptions } from '../database/data-source-options';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../database/embedded-postgres';
import { ProgressBar } from './progress-bar';
import { countByVersion, DATA_KEY_TABLES, DEFAULT_BATCH_SIZE, rotateDataKeys, type RotationResult } from './rotate-data-keys';

/**
 * `npm run keys:rotate [-- --batch-size=N | --check]`: re-wraps every data key under PII_ACTIVE_KEY (default:
 * the highest version in PII_KEYS), against DATABASE_URL or, when unset, the embedded database.
 *
 * Output: progress on stderr, the summary on stdout. Exit status: 0 when every data key is under the active
 * version, 1 when some remain (or on error), 130 when interrupted (run again to resume).
 * `--check` writes nothing: it prints the keys per version and exits 0 or 1 the same way.
 */

const EXIT_INTERRUPTED = 130;

interface Args {
  batchSize: number;
  check: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { batchSize: DEFAULT_BATCH_SIZE, check: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--check') args.check = true;
    else if (arg === '--batch-size' || arg.startsWith('--batch-size=')) {
      const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new ConfigError('--batch-size must be an integer between 1 and 100000');
      args.batchSize = n;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('Usage: npm run keys:rotate [-- --batch-size=N] [-- --check]\n');
      process.exit(0);
    } else throw new ConfigError(`unknown argument ${arg} (use --batch-size=N or --check)`);
  }
  return args;
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line = '') => process.stderr.write(`${line}\n`);
const versionsText = (versions: Record<string, number>) =>
  Object.keys(versions).length ? Object.entries(versions).map(([v, n]) => `${v}=${n}`).join(', ') : 'no keys';

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfig(process.env, { warn: (m) => err(`WARNING: ${m}`) });
  const vault = new PiiVault(config);
  const active = vault.activeKeyVersion;
  const configured = [...config.keys.pii.keys()];

  let embedded: EmbeddedPostgres | undefined;
  if (!config.databaseUrl) {
    err(`No DATABASE_URL: using the embedded database in ${config.dataDir}/pgdata (stop the app first: it is single-process)`);
    embedded = await startEmbeddedPostgres(config.dataDir);
  }
  const dataSource = new DataSource(
    dataSourceOptions(config.databaseUrl ?? embedded!.url, {
      entities: [],
      migrations: [],
      extra: { max: 1, application_name: 'custos-keys-rotate' },
    }),
  );
  try {
    await dataSource.initialize();
    out(`Key ring: ${configured.join(', ')}; active ${active}`);

    // Keys under a version that is not configured cannot be opened, let alone re-wrapped: say so up front.
    let remaining = 0;
    for (const { table, label } of DATA_KEY_TABLES) {
      const versions = await countByVersion(dataSource, table);
      out(`  ${label} (${table}): ${versionsText(versions)}`);
      remaining += Object.entries(versions).reduce((n, [v, c]) => (v === active ? n : n + c), 0);
      const unknown = Object.keys(versions).filter((v) => !config.keys.pii.has(v));
      if (unknown.length) err(`WARNING: ${label} have keys under ${unknown.join(', ')}, which PII_KEYS does not configure; they cannot be re-wrapped`);
    }
    if (args.check) {
      out(remaining === 0 ? `OK: every data key is under ${active}.` : `${remaining} data key(s) are not under ${active}.`);
      return remaining === 0 ? 0 : 1;
    }

    let stopRequested = false;
    const bar = new ProgressBar(process.stderr, `Re-wrapping under ${active}`);
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopRequested) {
        bar.interrupt();
        err(`${signal} again: exiting now. The batch in flight is rolled back; run keys:rotate again to resume.`);
        process.exit(EXIT_INTERRUPTED);
      }
      stopRequested = true;
      bar.interrupt();
      err(`${signal}: stopping after the current batch (send it again to exit at once)…`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    let result: RotationResult;
    try {
      result = await rotateDataKeys(dataSource, vault, {
        batchSize: args.batchSize,
        shouldStop: () => stopRequested,
        onProgress: (p) => {
          const extra = [p.skipped && `${p.skipped} skipped`, p.failed && `${p.failed} failed`].filter(Boolean).join(', ');
          if (p.total > 0) bar.update({ done: p.done, total: p.total, elapsedMs: p.elapsedMs, note: extra || undefined });
        },
      });
    } finally {
      bar.finish();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return summarise(result);
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
  }
}

function summarise(result: RotationResult): number {
  out('');
  out(`Summary (${(result.elapsedMs / 1000).toFixed(1)}s): ${result.rewrapped} re-wrapped, ${result.skipped} skipped (changed or erased meanwhile), ${result.failed} failed.`);
  for (const t of result.tables) {
    const label = DATA_KEY_TABLES.find((d) => d.table === t.table)!.label;
    out(`  ${label} (${t.table}): ${t.rewrapped} re-wrapped, ${t.skipped} skipped, ${t.failed} failed; now ${versionsText(t.versionsAfter)}; ${t.remaining} not under ${result.active}`);
  }
  for (const f of result.failures) err(`  failed: ${f.table} ${f.id}: ${f.reason}`);
  if (result.failed > result.failures.length) err(`  … and ${result.failed - result.failures.length} more failures`);

  if (result.complete) {
    out(`Verified: every data key is under ${result.active} (final count: 0 remaining). Older versions may now be removed from PII_KEYS.`);
    return 0;
  }
  if (result.stopped) {
    out(`Interrupted: ${result.remaining} data key(s) are not under ${result.active} yet. Run keys:rotate again to resume where it stopped.`);
    return EXIT_INTERRUPTED;
  }
  out(`NOT COMPLETE: ${result.remaining} data key(s) are still not under ${result.active}. Do not remove any version from PII_KEYS.`);
  if (result.failed) out('  Failed keys could not be unwrapped with the configured PII_KEYS; their row ids are listed on stderr.');
  if (result.skipped || result.remaining > result.failed) {
    out(`  Keys changed or created meanwhile: run keys:rotate again; if the count does not fall, check every app instance runs with PII_ACTIVE_KEY=${result.active}.`);
  }
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    err(`keys:rotate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
