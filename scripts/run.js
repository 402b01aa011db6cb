#!/usr/bin/env node
// Entry for `npm test`, `npm run demo` and `npm run bench` on a fresh clone. On a Node older
// than the project supports, it first fetches the official Node binary that the npm registry
// ships as node-<platform>-<arch> (cached per machine) and runs itself again with it; then it
// installs the npm dependencies when they are missing or stale, and runs scripts/<command>.ts
// through tsx. ZIPFLOW_NODE_MAJOR=22 (or 24) runs on that major's pinned Node whatever the
// machine has, so both supported majors are tested with the same commands. Plain CommonJS that
// any Node can parse: it is what chooses the Node.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** The oldest major the project supports (package.json engines), and the Node it fetches. */
const MIN_NODE_MAJOR = 22;
const NODE_VERSION = '24.22.3';
/** The Node fetched for each supported major when ZIPFLOW_NODE_MAJOR asks for it. */
const NODE_VERSIONS = { 22: '22.23.5', 24: NODE_VERSION };

const root = path.resolve(__dirname, '..');

/** The major of a version string such as "20.20.2" or "v24.1.0"; NaN when it is not one. */
function nodeMajor(version) {
  const m = /^v?(\d+)\.\d+\.\d+/.exec(String(version));
  return m ? Number(m[1]) : NaN;
}

/** True when a Node of this version cannot run the project. */
function needsNewerNode(version) {
  const major = nodeMajor(version);
  return !(major >= MIN_NODE_MAJOR);
}

/** The registry package with the official binary for this machine, or undefined. */
function nodePackageName(platform = process.platform, arch = process.arch) {
  const platforms = { linux: 'linux', darwin: 'darwin' };
  const arches = { x64: 'x64', arm64: 'arm64' };
  return platforms[platform] && arches[arch]
    ? `node-${platforms[platform]}-${arches[arch]}`
    : undefined;
}

/** The per-machine cache the dev tools use too (src/client/dev/tools.ts). */
function toolsCache(env = process.env) {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'zipflow', 'tools');
}

/**
 * The Node version the command must run on, or undefined when the running Node will do: the
 * pinned version of ZIPFLOW_NODE_MAJOR when it names another major than the running one, the
 * default when the running Node is too old.
 */
function wantedNodeVersion(running = process.versions.node, env = process.env) {
  const asked = env.ZIPFLOW_NODE_MAJOR;
  if (asked !== undefined && asked !== '') {
    const version = NODE_VERSIONS[asked];
    if (!version)
      fail(
        `ZIPFLOW_NODE_MAJOR=${asked} is not a supported Node major: use one of ${Object.keys(NODE_VERSIONS).join(', ')}, or unset it`,
      );
    return nodeMajor(running) === Number(asked) ? undefined : version;
  }
  return needsNewerNode(running) ? NODE_VERSION : undefined;
}

function cachedNodeDir(version = NODE_VERSION, env = process.env) {
  return path.join(toolsCache(env), `node-v${version}`);
}

function fail(message) {
  console.error(`[zipflow] ${message}`);
  process.exit(1);
}

/**
 * The cached Node binary, fetched first when missing: `npm pack` of the registry package into a
 * temporary folder next to the cache entry, unpacked, checked and renamed into place, so an
 * interrupted or concurrent fetch never leaves a half-written binary where it is looked for.
 */
function ensureNode(version = NODE_VERSION) {
  const dir = cachedNodeDir(version);
  const binary = path.join(dir, 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  const name = nodePackageName();
  if (!name)
    fail(
      `Node ${version} is wanted (zipflow needs Node >= ${MIN_NODE_MAJOR}; this one is ${process.versions.node}) and no Node binary is published for ${process.platform}-${process.arch} on npm: install Node ${nodeMajor(version)} from https://nodejs.org and run this again`,
    );
  console.error(
    `[zipflow] Node ${process.versions.node} ${process.env.ZIPFLOW_NODE_MAJOR ? `is not the asked ZIPFLOW_NODE_MAJOR=${process.env.ZIPFLOW_NODE_MAJOR}` : `is too old (zipflow needs >= ${MIN_NODE_MAJOR})`}: fetching Node ${version} (${name} from the npm registry) into ${dir}`,
  );
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    const pack = spawnSync(
      'npm',
      ['pack', `${name}@${version}`, '--silent', '--pack-destination', tmp],
      {
        cwd: tmp,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const tarball = pack.status === 0 ? pack.stdout.trim().split('\n').pop() : undefined;
    if (!tarball)
      fail(
        `could not fetch ${name}@${version} from the npm registry (npm pack exit ${pack.status}): check the network or the npm registry setting, or install Node ${nodeMajor(version)} yourself and run this again`,
      );
    const untar = spawnSync('tar', ['-xzf', path.join(tmp, tarball), '-C', tmp], {
      stdio: 'inherit',
    });
    if (untar.status !== 0) fail(`could not unpack ${tarball} (tar exit ${untar.status})`);
    const unpacked = path.join(tmp, 'package');
    const got = spawnSync(path.join(unpacked, 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    if (got.status !== 0 || got.stdout.trim() !== `v${version}`)
      fail(
        `${name}@${version} did not give a working node ${version} (${got.stdout || got.error})`,
      );
    try {
      fs.renameSync(unpacked, dir);
    } catch (err) {
      // A concurrent fetch put it there first: use that one.
      if (!fs.existsSync(binary)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return binary;
}

/** Runs this script again with `binary`, whose folder leads PATH (npm, node and npx use it). */
function rerunWith(binary) {
  const env = {
    ...process.env,
    PATH: `${path.dirname(binary)}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  const run = spawnSync(binary, [path.join(__dirname, 'run.js'), ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
    env,
  });
  if (run.error) fail(`could not run ${binary}: ${run.error.message}`);
  process.exit(run.status ?? 1);
}

function main() {
  const wanted = wantedNodeVersion();
  if (wanted) {
    if (process.env.ZIPFLOW_NODE_FETCHED) fail(`the fetched Node runs as ${process.versions.node}`);
    process.env.ZIPFLOW_NODE_FETCHED = '1';
    rerunWith(ensureNode(wanted));
  }
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
}

if (require.main === module) main();

module.exports = {
  MIN_NODE_MAJOR,
  NODE_VERSION,
  NODE_VERSIONS,
  nodeMajor,
  wantedNodeVersion,
  needsNewerNode,
  nodePackageName,
  cachedNodeDir,
};
