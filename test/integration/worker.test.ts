import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import path from 'node:path';
import { temporalClient, withWorker } from '../support/env';
import { bundleWorkflows } from '../../src/workflowBundle';
import { pingActivities } from '../support/pingWorkflow';

const webpackModules = (): number =>
  Object.keys(require.cache).filter((k) => k.includes(`${path.sep}webpack${path.sep}`)).length;

test("a worker bundles its workflows in another process, so webpack's compile never enters the worker's memory", async () => {
  const before = webpackModules();
  const { client, close } = await temporalClient();
  try {
    const result = await withWorker(
      { workflowsPath: require.resolve('../support/pingWorkflow'), activities: pingActivities },
      (taskQueue) =>
        client.workflow.execute('ping', {
          taskQueue,
          workflowId: `ping-${crypto.randomUUID()}`,
          args: ['bundle'],
        }),
    );
    assert.equal(result, 'BUNDLE!');
  } finally {
    await close();
  }
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
