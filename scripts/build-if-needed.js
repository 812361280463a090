#!/usr/bin/env node
// `npm start` builds first when the compiled output is missing or older than the sources, so a fresh
// clone needs only `npm install && npm start`.
const { execSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const output = join(root, 'dist', 'src', 'main.js');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const sourcesChanged = () =>
  Math.max(newest(join(root, 'src')), newest(join(root, 'migrations')), statSync(join(root, 'package.json')).mtimeMs) >
  statSync(output).mtimeMs;

// A prebuilt tree (the production image) ships dist/ without sources or the Nest CLI: use it as it is.
if (!existsSync(join(root, 'src'))) {
  if (!existsSync(output)) {
    console.error(`No sources and no build at ${output}: nothing to start`);
    process.exit(1);
  }
} else if (!existsSync(output) || sourcesChanged()) {
  console.log('Building Custos (first start or sources changed)…');
  execSync('npx nest build', { cwd: root, stdio: 'inherit' });
}
