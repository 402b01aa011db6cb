#!/usr/bin/env node
// Entry for `npm test`, `npm run demo` and `npm run bench` on a fresh clone: installs the npm
// dependencies when they are missing or stale, then runs scripts/<command>.ts through tsx.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
if (!fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs) {
  console.error('[zipflow] installing npm dependencies (npm ci)');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (ci.status !== 0) process.exit(ci.status ?? 1);
}
const [command, ...args] = process.argv.slice(2);
const script = path.join(root, 'scripts', `${command}.ts`);
if (!fs.existsSync(script)) {
  console.error(`[zipflow] unknown command "${command}": use test, demo or bench`);
  process.exit(2);
}
const run = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
