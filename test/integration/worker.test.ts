import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runPing, temporalClient, withWorker } from '../support/env';
import { bundleWorkflows } from '../../src/workflowBundle';
import { WorkflowFailedError } from '@temporalio/client';

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

/** The source map webpack inlines at the end of a workflow bundle. */
function inlineSourceMap(code: string): {
  mappings: string;
  sources: string[];
  sourcesContent?: string[];
} {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  assert.ok(at > 0, 'the bundle has an inline source map');
  const base64 = code.slice(code.indexOf('base64,', at) + 'base64,'.length).trim();
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as ReturnType<
    typeof inlineSourceMap
  >;
}

test("the bundle maps lines without the sources' text, and a workflow's stack trace still names its TypeScript file and line", async () => {
  const workflowsPath = require.resolve('../support/pingWorkflow');
  const map = inlineSourceMap((await bundleWorkflows(workflowsPath)).code);
  assert.equal(map.sourcesContent, undefined, 'the map carries the sources themselves');
  assert.ok(!map.mappings.includes(','), 'more than one mapping on a generated line');
  assert.ok(map.sources.includes(workflowsPath), map.sources.join(', '));

  const { client, close } = await temporalClient();
  try {
    const failure = await withWorker({ workflowsPath }, (taskQueue) =>
      client.workflow
        .execute('failing', {
          taskQueue,
          workflowId: `failing-${crypto.randomUUID()}`,
          args: ['on purpose'],
        })
        .then(
          () => assert.fail('the workflow succeeded'),
          (err: unknown) => err,
        ),
    );
    assert.ok(failure instanceof WorkflowFailedError && failure.cause, String(failure));
    const stack = failure.cause.stack ?? '';
    const lines = fs.readFileSync(workflowsPath, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('throw ApplicationFailure.nonRetryable')) + 1;
    assert.ok(stack.includes(`${workflowsPath}:${line}:`), stack);
  } finally {
    await close();
  }
});
