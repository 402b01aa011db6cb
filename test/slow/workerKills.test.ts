import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { archiveWorkflowId, type ArchiveResult } from '../../src/shared/request';
import { temporalClient, uniqueName } from '../support/env';
import { partsHeld, waitUntil } from '../support/archive';
import { faultSeed, seededRandom, slowStoreFor } from '../support/faultProxy';
import {
  archiveKey,
  assertSameArchive,
  mixedRequest,
  mixedSourceFixture,
  PART_SIZE,
  referenceArchive,
  UPLOAD_CONCURRENCY,
} from '../support/reliability';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const fixture = mixedSourceFixture(4);

test('a worker SIGKILLed 4–6 times at seeded random moments: each new worker resumes, the archive is byte-identical, rework stays within the parts in flight', async (t) => {
  const seed = faultSeed();
  const random = seededRandom(seed);
  const kills = 4 + Math.floor(random() * 3);
  t.diagnostic(`seed ${seed} (replay with ZIPFLOW_FAULT_SEED=${seed}): ${kills} kills`);
  const { client: temporal, close } = await temporalClient();
  try {
    const referenceKey = archiveKey('reference');
    const reference = await referenceArchive(
      temporal,
      mixedRequest(fixture.source, fixture.destination, referenceKey),
    );
    t.diagnostic(`reference: ${reference.parts} parts, ${reference.size} bytes`);

    // The workers reach MinIO through the proxy with no faults but 300 ms per request: the
    // stream then lasts long enough for kills at moments spread over it.
    const slowStore = await slowStoreFor(t, 300, seed);
    const store = { AWS_ENDPOINT_URL_S3: slowStore.url };
    const key = archiveKey('killed');
    const taskQueue = uniqueName('tq-kills');
    let worker = startWorkerProcess(taskQueue, [], { env: store });
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId({ bucket: fixture.destination, key }),
      args: [mixedRequest(fixture.source, fixture.destination, key)],
    });
    let done = false;
    const result = handle.result().finally(() => {
      done = true;
    }) as Promise<ArchiveResult>;
    const moments: string[] = [];
    try {
      let held = 0;
      for (let i = 0; i < kills && !done; i++) {
        // A moment while a worker streams: once S3 holds the i-th of `kills` part counts spread
        // over the run (and more than at the last kill), then a seeded delay of up to 500 ms.
        // Spread, so that every planned kill lands before the last part.
        const before = held;
        const target = Math.max(
          before + 1,
          Math.floor(((i + 1) * (reference.parts - 1)) / (kills + 1)),
        );
        await waitUntil(
          `S3 holds ${target} parts`,
          async () =>
            done || (held = await partsHeld(fixture.client, fixture.destination, key)) >= target,
          180_000,
        ).catch(async (err: unknown) => {
          throw new Error(`${String(err)}; pending: ${await pendingActivities(handle)}`);
        });
        const delay = Math.floor(random() * 500);
        await new Promise((r) => setTimeout(r, delay));
        if (done) break;
        held = Math.max(held, await partsHeld(fixture.client, fixture.destination, key));
        await killHard(worker);
        moments.push(`at part ${held} (+${delay} ms)`);
        worker = startWorkerProcess(taskQueue, [], { env: store });
      }
      const final = await result.catch(async (err: unknown) => {
        throw new Error(`${String(err)}; pending: ${await pendingActivities(handle)}`);
      });
      t.diagnostic(
        `killed ${moments.length}×: ${moments.join(', ')}; resumes ${final.resumes}, retries ${final.retries}, rework ${final.uploadedBytes - final.size} bytes, ${final.parts} parts`,
      );
      assert.equal(moments.length, kills, 'the run outlived every planned kill');
      assert.ok(final.resumes >= 1 && final.resumes <= kills, `resumes ${final.resumes}`);
      const rework = final.uploadedBytes - final.size;
      assert.ok(rework >= 0);
      assert.ok(
        rework <= final.resumes * UPLOAD_CONCURRENCY * PART_SIZE,
        `rework ${rework} bytes exceeds ${final.resumes} × ${UPLOAD_CONCURRENCY} parts in flight`,
      );
      await assertSameArchive(
        fixture,
        { key, result: final },
        { key: referenceKey, result: reference },
      );
    } finally {
      await killHard(worker);
    }
  } finally {
    await close();
  }
});

/** What the workflow waits for, to explain a run that does not finish. */
async function pendingActivities(handle: WorkflowHandle): Promise<string> {
  const { raw } = await handle.describe();
  return JSON.stringify(
    (raw.pendingActivities ?? []).map((a) => ({
      type: a.activityType?.name,
      state: a.state,
      attempt: a.attempt,
      lastFailure: a.lastFailure?.message,
      lastWorker: a.lastWorkerIdentity,
    })),
  );
}
