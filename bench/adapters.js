#!/usr/bin/env node
'use strict';
/*
 * GraphQL HTTP adapter benchmark: Nest + ApolloDriver on Express vs Fastify.
 *
 *   node bench/adapters.js          (BENCH_SECONDS=10 by default)
 *
 * Each server runs in its own child process (this same file with `--serve`),
 * so the load generator (autocannon, in the parent) does not compete with the
 * server for the same event loop, and every run starts from a fresh process
 * with no module-level state left over from the previous adapter.
 * Plain CommonJS on purpose: no build step, decorators applied by hand.
 */

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { fork } = require('node:child_process');

const ADAPTERS = ['express', 'fastify'];
const ROUNDS = 2; // express, fastify, express, fastify: alternate to reduce ordering bias
const SECONDS = positiveInt(process.env.BENCH_SECONDS, 10);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 50;
const BODY = JSON.stringify({ query: '{ ping }' });
const RESULTS_FILE = path.join(__dirname, 'results', 'adapters.json');

function positiveInt(value, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

// ---------------------------------------------------------------------------
// Server side (child process)
// ---------------------------------------------------------------------------

async function serve(adapterName) {
  if (!process.send) throw new Error('--serve is internal (needs an IPC parent); run without arguments');
  if (!ADAPTERS.includes(adapterName)) throw new Error(`unknown adapter "${adapterName}"`);
  require('reflect-metadata');
  const { Module } = require('@nestjs/common');
  const { NestFactory } = require('@nestjs/core');
  const { GraphQLModule, Resolver, Query } = require('@nestjs/graphql');
  const { ApolloDriver } = require('@nestjs/apollo');

  class PingResolver {
    ping() {
      return 'pong';
    }
  }
  // Equivalent of `@Resolver() class … { @Query() ping() }` without decorator syntax.
  Reflect.decorate(
    [Query('ping')],
    PingResolver.prototype,
    'ping',
    Object.getOwnPropertyDescriptor(PingResolver.prototype, 'ping'),
  );
  Reflect.decorate([Resolver()], PingResolver);

  class AppModule {}
  Reflect.decorate(
    [
      Module({
        imports: [
          // Identical options for both adapters; ApolloDriver picks the
          // integration (express5 / fastify) from httpAdapter.getType().
          GraphQLModule.forRoot({
            driver: ApolloDriver,
            typeDefs: 'type Query { ping: String! }',
            csrfPrevention: true,
            playground: false,
          }),
        ],
        providers: [PingResolver],
      }),
    ],
    AppModule,
  );

  let httpAdapter;
  if (adapterName === 'fastify') {
    const { FastifyAdapter } = require('@nestjs/platform-fastify');
    httpAdapter = new FastifyAdapter();
  } else {
    const { ExpressAdapter } = require('@nestjs/platform-express');
    httpAdapter = new ExpressAdapter();
  }

  const app = await NestFactory.create(AppModule, httpAdapter, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1'); // port 0: let the OS pick a free port
  const { port } = app.getHttpServer().address();

  process.on('message', async (msg) => {
    if (msg !== 'close') return;
    await app.close();
    process.send('closed', () => process.exit(0));
  });
  process.send({ port, adapterType: app.getHttpAdapter().getType() });
}

// ---------------------------------------------------------------------------
// Load generator side (parent process)
// ---------------------------------------------------------------------------

/** Starts a server child and resolves once it listens. */
function startServer(adapterName) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--serve', adapterName], { stdio: 'inherit' });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${adapterName}: server did not start within 30 s`));
    }, 30_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      resolve({ child, ...msg });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${adapterName}: server exited early (code ${code})`));
    });
  });
}

/** Asks the child to app.close() and waits for the process to be gone. */
function stopServer(server) {
  return new Promise((resolve, reject) => {
    const { child } = server;
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not close within 15 s (killed)'));
    }, 15_000);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send('close');
  });
}

/** Fails fast if the server does not answer the query or CSRF prevention is off. */
async function verify(url) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
  });
  const text = await res.text();
  if (res.status !== 200 || text.trim() !== '{"data":{"ping":"pong"}}') {
    throw new Error(`unexpected response ${res.status}: ${text}`);
  }
  // A "simple" GET without a preflight header must be rejected when csrfPrevention is on.
  const csrf = await fetch(`${url}?query=${encodeURIComponent('{ ping }')}`);
  await csrf.arrayBuffer();
  if (csrf.status !== 400) {
    throw new Error(`csrfPrevention not active: GET returned ${csrf.status}`);
  }
}

function cannon(url, seconds) {
  const autocannon = require('autocannon');
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections: CONNECTIONS,
    duration: seconds,
  });
}

async function runOnce(adapterName, round) {
  const server = await startServer(adapterName);
  try {
    if (server.adapterType !== adapterName) {
      throw new Error(`expected ${adapterName} adapter, got ${server.adapterType}`);
    }
    const url = `http://127.0.0.1:${server.port}/graphql`;
    await verify(url);
    const warm = await cannon(url, WARMUP_SECONDS);
    if (warm.non2xx > 0 || warm.errors > 0) {
      throw new Error(`${adapterName}: warm-up had ${warm.non2xx} non-2xx, ${warm.errors} errors`);
    }
    const r = await cannon(url, SECONDS);
    return {
      adapter: adapterName,
      round,
      reqPerSec: r.requests.mean,
      reqPerSecStddev: r.requests.stddev, // across 1 s samples; high values mean a noisy machine
      latencyP50Ms: r.latency.p50,
      latencyP99Ms: r.latency.p99,
      requests: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      ok: r.non2xx === 0 && r.errors === 0 && r.timeouts === 0,
    };
  } finally {
    await stopServer(server);
  }
}

function mean(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function round2(n) {
  return Math.round(n * 100) / 100;
}

/** Version of `name` as Node would resolve it from `fromDir` (package.json may be hidden by "exports"). */
function pkgVersion(name, fromDir = __dirname) {
  try {
    let dir = path.dirname(require.resolve(name, { paths: [fromDir] }));
    while (dir !== path.dirname(dir)) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (pkg.name === name) return pkg.version;
      }
      dir = path.dirname(dir);
    }
  } catch {
    // not installed
  }
  return null;
}

function printTable(runs, averages) {
  const head = ['adapter', 'run', 'req/s', 'p50 ms', 'p99 ms', 'non2xx', 'errors'];
  const rows = runs.map((r) => [
    r.adapter, String(r.round), r.reqPerSec.toFixed(1), String(r.latencyP50Ms),
    String(r.latencyP99Ms), String(r.non2xx), String(r.errors + r.timeouts),
  ]);
  for (const a of averages) {
    rows.push([
      a.adapter, 'avg', a.reqPerSec.toFixed(1), a.latencyP50Ms.toFixed(1),
      a.latencyP99Ms.toFixed(1), String(a.non2xx), String(a.errors),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row) => console.log(line(row)));
}

async function main() {
  console.log(
    `GraphQL adapter bench: ${CONNECTIONS} connections, ${WARMUP_SECONDS}s warm-up + ${SECONDS}s per run, ` +
      `${ROUNDS} rounds, node ${process.version}, ${os.cpus().length} CPUs`,
  );

  const runs = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const adapter of ADAPTERS) {
      process.stdout.write(`  run ${round} ${adapter} ... `);
      const r = await runOnce(adapter, round);
      runs.push(r);
      console.log(`${r.reqPerSec.toFixed(1)} req/s${r.ok ? '' : '  (NOT OK: non-2xx/errors/timeouts)'}`);
    }
  }
  console.log();

  const averages = ADAPTERS.map((adapter) => {
    const mine = runs.filter((r) => r.adapter === adapter);
    return {
      adapter,
      reqPerSec: round2(mean(mine.map((r) => r.reqPerSec))),
      latencyP50Ms: round2(mean(mine.map((r) => r.latencyP50Ms))),
      latencyP99Ms: round2(mean(mine.map((r) => r.latencyP99Ms))),
      non2xx: mine.reduce((s, r) => s + r.non2xx, 0),
      errors: mine.reduce((s, r) => s + r.errors + r.timeouts, 0),
    };
  });
  printTable(runs, averages);

  const [fast, slow] = [...averages].sort((a, b) => b.reqPerSec - a.reqPerSec);
  const ratio = round2(fast.reqPerSec / slow.reqPerSec);
  const allOk = runs.every((r) => r.ok);

  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const report = {
    date: new Date().toISOString(),
    config: {
      seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, rounds: ROUNDS,
      request: { method: 'POST', path: '/graphql', contentType: 'application/json', body: BODY },
    },
    environment: {
      node: process.version, platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().length, cpuModel: os.cpus()[0] && os.cpus()[0].model,
      packages: Object.fromEntries(
        ['@nestjs/core', '@nestjs/platform-express', '@nestjs/platform-fastify', '@nestjs/graphql',
          '@nestjs/apollo', '@apollo/server', '@as-integrations/express5', '@as-integrations/fastify',
          'express', 'graphql', 'autocannon'].map((n) => [n, pkgVersion(n)]),
      ),
      // platform-fastify may ship its own nested fastify; record the one the app really uses.
      fastifyUsedByNest: pkgVersion('fastify', path.dirname(require.resolve('@nestjs/platform-fastify'))),
    },
    runs,
    averages,
    faster: { adapter: fast.adapter, ratio, allRunsOk: allOk },
  };
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(report, null, 2) + '\n');

  console.log();
  console.log(`JSON: ${path.relative(process.cwd(), RESULTS_FILE)}`);
  console.log(`Faster: ${fast.adapter} (${ratio}x the req/s of ${slow.adapter})${allOk ? '' : ' — WARNING: some runs had non-2xx/errors'}`);
  if (!allOk) process.exitCode = 1;
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
