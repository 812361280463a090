'use strict';
/** Small shared helpers of the benchmarks: paths, numbers, statistics, output. */

const path = require('node:path');
const fs = require('node:fs');
const { randomBytes } = require('node:crypto');

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist', 'src');

function positiveInt(value, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** A compiled module of the app (dist/src/<rel>.js); the npm `bench:*` scripts build it first. */
function requireDist(rel) {
  const file = path.join(DIST, rel);
  if (!fs.existsSync(`${file}.js`)) {
    throw new Error(`${path.relative(ROOT, file)}.js is missing: run \`node scripts/build-if-needed.js\` (the npm bench:* scripts do)`);
  }
  return require(file);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A random 32-byte key, base64 (PII_KEYS, BLIND_INDEX_KEY, TOKEN_SECRET, AUDIT_CHAIN_KEY). */
const key = () => randomBytes(32).toString('base64');
const randomIp = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0] % 250)}`;

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at a time. */
async function pool(n, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

const round2 = (n) => Math.round(n * 100) / 100;
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

function printTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row) => console.log(line(row)));
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * CPU time (µs) used so far by the local PostgreSQL server's processes, from /proc (Linux, server on this
 * machine); null elsewhere. Backends that exit between two readings drop out, so read it around a phase
 * whose connections stay open.
 */
function postgresCpuMicros() {
  const fs = require('node:fs');
  let dirs;
  try {
    dirs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const ticksPerSecond = 100; // USER_HZ on Linux
  let ticks = 0;
  let found = false;
  for (const pid of dirs) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
      found = true;
    } catch {
      // the process exited meanwhile
    }
  }
  return found ? (ticks * 1e6) / ticksPerSecond : null;
}

module.exports = { postgresCpuMicros, ROOT, DIST, positiveInt, requireDist, sleep, key, randomIp, pool, percentile, round2, mean, printTable, pkgVersion };
