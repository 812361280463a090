'use strict';
/*
 * The app under test in a child process (so autocannon, in the parent, does not share its event loop), with
 * a per-request SQL statement counter: pg_stat_statements is usually not loaded, so the child wraps
 * pg.Client#query and attributes each statement to the HTTP request whose AsyncLocalStorage scope it runs
 * in (pg-boss and other background work is counted apart, as "background").
 * Requests sent with the header `x-bench-count` are "flagged": their counts come back one by one with a
 * breakdown by statement kind (and, with `x-bench-count: sql`, the statement texts).
 *
 * Parent side: startServer(env, { withoutAudit }) forks this file; take / settle / stopServer talk to it.
 * Child side (this file run with `--serve [--without-audit]`): `createApp` of dist/, or the bench-only
 * app-without-audit.js, listening on a free port on 127.0.0.1.
 */

const { fork } = require('node:child_process');
const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const { requireDist, sleep } = require('./util');

// ---------------------------------------------------------------------------
// Child
// ---------------------------------------------------------------------------

/** Short name of a statement for the breakdown, e.g. `INSERT INTO audit_entry`, `SELECT … FROM customer`. */
function statementLabel(text) {
  const t = String(text || '').replace(/\s+/g, ' ').trim();
  let m;
  if ((m = /^(INSERT INTO|UPDATE|DELETE FROM)\s+"?([\w.]+)"?/i.exec(t))) return `${m[1].toUpperCase()} ${m[2]}`;
  if ((m = /^SELECT\s+(pg_\w+|gen_random_uuid)\s*\(/i.exec(t))) return `SELECT ${m[1]}()`;
  if ((m = /^SELECT\b.*\bFILTER \(WHERE\b.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT aggregates … FROM ${m[1]}`;
  if ((m = /^SELECT\s+COUNT\b.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT COUNT … FROM ${m[1]}`;
  if ((m = /^SELECT\s+(max|min)\s*\(.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT ${m[1].toLowerCase()}() … FROM ${m[2]}`;
  if ((m = /^SELECT\b.*?\bFROM\s+"?([\w.]+)"?/i.exec(t))) return `SELECT … FROM ${m[1]}`;
  return t.slice(0, 40);
}

/** Wraps pg.Client#query (TypeORM and raw queries alike); returns the scope and the running totals. */
function installStatementCounter() {
  const scope = new AsyncLocalStorage();
  const totals = { requests: 0, inRequest: 0, inRequestTrips: 0, background: 0, inRequestTx: 0, backgroundTx: 0 };
  const pg = require('pg');
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(config) {
    // A pipeline (BEGIN with the first statement, a held statement with COMMIT) is one round trip carrying
    // several statements: each is counted as a statement, the pipeline once as a round trip.
    const texts = typeof config === 'string' ? [config] : config && Array.isArray(config.statements) ? config.statements : [config && config.text];
    // Transactions as the server counts them (pg_stat_database.xact_commit): each COMMIT, and each statement
    // sent outside an explicit transaction.
    let commits = 0;
    for (const text of texts) {
      if (/^\s*(START TRANSACTION|BEGIN)\b/i.test(text)) this.benchInTx = true;
      else if (/^\s*(COMMIT|END)\b/i.test(text)) (this.benchInTx = false), (commits += 1);
      else if (/^\s*ROLLBACK\s*$/i.test(text)) this.benchInTx = false;
      else if (!this.benchInTx) commits += 1;
    }
    const store = scope.getStore();
    if (store) {
      store.n += texts.length;
      store.trips += 1;
      store.tx += commits;
      totals.inRequest += texts.length;
      totals.inRequestTrips += 1;
      totals.inRequestTx += commits;
      if (store.labels) {
        const label = texts.map(statementLabel).join(' + ');
        store.labels[label] = (store.labels[label] || 0) + 1;
        // Flagged requests also get the time from send to result per statement kind (round trip included).
        const t0 = performance.now();
        const result = query.apply(this, arguments);
        if (result && typeof result.then === 'function') {
          const add = () => (store.ms[label] = (store.ms[label] || 0) + performance.now() - t0);
          result.then(add, add);
        } else if (config && typeof config.submit === 'function' && typeof config.callback === 'function') {
          // A pipeline settles through its callback.
          const settle = config.callback;
          config.callback = (...args) => {
            store.ms[label] = (store.ms[label] || 0) + performance.now() - t0;
            return settle(...args);
          };
        }
        if (store.sql) for (const text of texts) store.sql.push(String(text));
        return result;
      }
    } else {
      totals.background += texts.length;
      totals.backgroundTx += commits;
    }
    return query.apply(this, arguments);
  };
  return { scope, totals };
}

async function serve({ withoutAudit }) {
  if (!process.send) throw new Error('--serve is internal (needs an IPC parent)');
  require('reflect-metadata');
  // Before the app loads anything that sends statements.
  const { scope, totals } = installStatementCounter();
  let flagged = [];

  const { loadConfig } = requireDist('config/config');
  const config = loadConfig(process.env);
  const app = withoutAudit
    ? await require('./app-without-audit').createAppWithoutAudit(config, config.databaseUrl)
    : await requireDist('app.factory').createApp(config, config.databaseUrl);
  // createApp registered the request-id middleware and the body parser; this runs after both, before the
  // GraphQL handler (mounted at init), so the scope covers guards, resolvers and Apollo plugins.
  app.use((req, res, next) => {
    totals.requests += 1;
    const flag = req.headers['x-bench-count'];
    // `x-bench-count: sql` also keeps each statement's text (not its parameters), e.g. to compare with a baseline.
    const store = { n: 0, trips: 0, tx: 0, labels: flag ? {} : null, ms: flag ? {} : null, sql: flag === 'sql' ? [] : null };
    if (store.labels) flagged.push(store);
    scope.run(store, next);
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();

  let closing = false;
  process.on('unhandledRejection', (error) => {
    if (closing) return; // a request abandoned by the client meeting the closed pool
    console.error(error);
    process.exit(1);
  });
  process.on('message', async (msg) => {
    if (msg === 'take') {
      const taken = flagged;
      flagged = [];
      const cpu = process.cpuUsage(); // of the app process: requests and background work together
      process.send({ take: { flagged: taken, totals: { ...totals, cpuMicros: cpu.user + cpu.system } } });
    } else if (msg === 'close') {
      closing = true;
      await app.close();
      process.send('closed', () => process.exit(0));
    }
  });
  process.send({ port });
}

// ---------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------

/**
 * The Node flags `npm start` runs the app with (the options before the script in package.json's `start`),
 * so the app under test runs as shipped; the bench's own process, and so the baselines, keep the defaults.
 */
function appNodeFlags() {
  const start = require(path.join(__dirname, '..', '..', 'package.json')).scripts.start;
  // `exec node …`: the shell hands its process to node, so signals sent to npm reach the app.
  const words = start.trim().split(/\s+/).filter((word, i) => !(i === 0 && word === 'exec'));
  if (words[0] !== 'node') throw new Error(`package.json start script does not run node: ${start}`);
  const flags = [];
  for (const word of words.slice(1)) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags;
}

/** Forks the app (DATABASE_URL etc. in `env`); resolves to { child, port } once it listens. */
function startServer(env, { withoutAudit = false } = {}) {
  return new Promise((resolve, reject) => {
    const args = ['--serve', ...(withoutAudit ? ['--without-audit'] : [])];
    const child = fork(__filename, args, { stdio: 'inherit', env, execArgv: [...process.execArgv, ...appNodeFlags()] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('app did not start within 60 s'));
    }, 60_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      resolve({ child, port: msg.port });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited early (code ${code})`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 15_000);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send('close');
  });
}

/** Asks the child for the statement counts of the flagged requests since the last call, and the totals. */
function take(child) {
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      if (!msg || !msg.take) return;
      child.off('message', onMessage);
      resolve(msg.take);
    };
    child.on('message', onMessage);
    child.send('take');
  });
}

/** Waits until the app has sent no statement for a second (requests abandoned by the client finished). */
async function settle(child) {
  let last = (await take(child)).totals;
  for (let quiet = 0; quiet < 4; ) {
    await sleep(250);
    const now = (await take(child)).totals;
    quiet = now.inRequest === last.inRequest ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

if (require.main === module && process.argv[2] === '--serve') {
  serve({ withoutAudit: process.argv.includes('--without-audit') }).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { statementLabel, appNodeFlags, startServer, stopServer, take, settle };
