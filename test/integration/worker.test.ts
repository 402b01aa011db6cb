import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { runPing } from '../support/env';
import { bundleWorkflows } from '../../src/workflowBundle';

const webpackModules = (): number =>
  Object.keys(require.cache).filter((k) => k.includes(`${path.sep}webpack${path.sep}`)).length;

test("a worker bundles its workflows in another process, so webpack's compile never enters the worker's memory", async () => {
  const before = webpackModules();
  assert.equal(await runPing('bundle'), 'BUNDLE!');
  assert.equal(webpackModules(), before, 'webpack was loaded into this process');
});

test('workflows that cannot be bundled fail with an error naming their path', async () => {
  const missing = path.join(__dirname, 'no-such-workflows.ts');
  await assert.rejects(bundleWorkflows(missing), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.ok(err.message.includes(missing), err.message);
    return true;
  });
});
