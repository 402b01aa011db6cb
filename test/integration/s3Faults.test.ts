import assert from 'node:assert/strict';
import { test } from 'node:test';
import { archiveWorkflowId, type ArchiveResult } from '../../src/shared/request';
import { temporalClient, uniqueName } from '../support/env';
import { FAULT_KINDS, faultSeed, startFaultProxy } from '../support/faultProxy';
import {
  archiveKey,
  assertSameArchive,
  mixedRequest,
  mixedSourceFixture,
  referenceArchive,
} from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const fixture = mixedSourceFixture();

test('through a proxy injecting 500s, 503 SlowDown, connection resets and stalls, the archive completes byte-identical and the result counts the retries', async (t) => {
  const seed = faultSeed();
  t.diagnostic(`fault seed ${seed} (replay with ZIPFLOW_FAULT_SEED=${seed})`);
  const { client: temporal, close } = await temporalClient();
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed,
    // About 17 faults in a run of ~70 requests: the first five take one kind each, so every
    // kind is seen (at 0.15, seed 864427784 drew only four faults).
    rate: 0.25,
    weights: { internalError: 3, slowDown: 3, resetRequest: 2, resetResponse: 2, stall: 1 },
    stallMs: 15_000, // longer than the SDK's 8 s socket timeout (src/s3/client.ts)
  });
  try {
    const referenceKey = archiveKey('reference');
    const reference = await referenceArchive(
      temporal,
      mixedRequest(fixture.source, fixture.destination, referenceKey),
    );
    assert.equal(reference.retries, 0, 'a run without faults retries nothing');
    assert.ok(reference.parts >= 4, `${reference.parts} parts`);

    const key = archiveKey('faulty');
    const taskQueue = uniqueName('tq-faults');
    const worker = startWorkerProcess(taskQueue, [], { env: { AWS_ENDPOINT_URL_S3: proxy.url } });
    try {
      const started = Date.now();
      const result = (await temporal.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId({ bucket: fixture.destination, key }),
        args: [mixedRequest(fixture.source, fixture.destination, key)],
      })) as ArchiveResult;
      const stats = proxy.stats();
      t.diagnostic(
        `${stats.requests} requests, faults ${JSON.stringify(stats.faults)}; result: retries ${result.retries}, resumes ${result.resumes}, ${result.parts} parts, ${result.size} bytes, ${Date.now() - started} ms`,
      );
      for (const kind of FAULT_KINDS) assert.ok(stats.faults[kind] > 0, `no ${kind} injected`);
      // Each fault is retried once somewhere: by the SDK, as a body read on, or as another
      // activity attempt (a reset CompleteMultipartUpload can take two).
      const injected = Object.values(stats.faults).reduce((n, k) => n + k, 0);
      assert.ok(result.retries >= injected, `${result.retries} retries for ${injected} faults`);
      assert.equal(result.size, reference.size);
      proxy.pause(true);
      await assertSameArchive(
        fixture,
        { key, result: result },
        { key: referenceKey, result: reference },
      );
    } finally {
      await killHard(worker);
    }
  } finally {
    await proxy.close();
    await close();
  }
});

test('an attempt waiting out S3 requests that stall one after another keeps heartbeating, so it is not abandoned and started over', async (t) => {
  const { client: temporal, close } = await temporalClient();
  // Three stalled CreateMultipartUpload requests in a row: each ends at the SDK's 8 s socket
  // timeout and is retried, about 25 s in all, longer than the 20 s heartbeat timeout.
  let stalls = 0;
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 15_000,
    faultFor: ({ method, url }) =>
      method === 'POST' && /[?&]uploads(=|&|$)/.test(url) && stalls < 3
        ? (stalls++, 'stall')
        : undefined,
  });
  const key = archiveKey('stalled');
  const taskQueue = uniqueName('tq-stalls');
  const worker = startWorkerProcess(taskQueue, [], { env: { AWS_ENDPOINT_URL_S3: proxy.url } });
  try {
    const started = Date.now();
    const workflowId = archiveWorkflowId({ bucket: fixture.destination, key });
    const result = (await temporal.workflow.execute('archive', {
      taskQueue,
      workflowId,
      args: [mixedRequest(fixture.source, fixture.destination, key)],
    })) as ArchiveResult;
    const elapsed = Date.now() - started;
    const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : [],
    );
    t.diagnostic(`result: retries ${result.retries}, resumes ${result.resumes}, ${elapsed} ms`);
    assert.equal(proxy.stats().faults.stall, 3);
    assert.ok(elapsed > 20_000, `the stalls took ${elapsed} ms, not past the heartbeat timeout`);
    assert.ok(
      attempts.every((n) => n === 1),
      `an activity was abandoned while it waited on S3 (attempts ${attempts.join(', ')})`,
    );
    assert.equal(result.resumes, 0);
    assert.equal(result.retries, 3, 'each stalled request retried once by the SDK');
  } finally {
    await killHard(worker);
    await proxy.close();
    await close();
  }
});

test('a CompleteMultipartUpload whose response is lost and which the SDK sends again finds the archive it made, and the run completes', async (t) => {
  const { client: temporal, close } = await temporalClient();
  // The store completes the upload, the client never hears of it, and its retry meets
  // If-None-Match on the object the first request made (412), or an upload already gone.
  let cut = 0;
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    faultFor: ({ method, url }) =>
      method === 'POST' && /[?&]uploadId=/.test(url) && cut < 1
        ? (cut++, 'resetResponse')
        : undefined,
  });
  const key = archiveKey('lost-completion');
  const taskQueue = uniqueName('tq-lost-completion');
  const worker = startWorkerProcess(taskQueue, [], { env: { AWS_ENDPOINT_URL_S3: proxy.url } });
  try {
    const result = (await temporal.workflow.execute('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: fixture.destination, key }),
      args: [mixedRequest(fixture.source, fixture.destination, key)],
    })) as ArchiveResult;
    t.diagnostic(`retries ${result.retries}, resumes ${result.resumes}`);
    assert.equal(proxy.stats().faults.resetResponse, 1);
    assert.equal(result.resumes, 0, 'the streaming activity completed in its first attempt');
    assert.ok(result.sha256);
  } finally {
    await killHard(worker);
    await proxy.close();
    await close();
  }
});
