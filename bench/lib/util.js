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

module.exports = { ROOT, DIST, positiveInt, requireDist, sleep, key, randomIp, pool, percentile, round2, mean, printTable, pkgVersion };
