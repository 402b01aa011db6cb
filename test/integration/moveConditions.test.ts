import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { discardRun } from '../../src/activities';
import { deleteIfUnchanged, headVersion, honoursDeleteETag } from '../../src/s3/conditionalDelete';
import { moveProbeKey } from '../../src/shared/stateKeys';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { getObject, keysUnder } from '../support/archive';
import { temporalClient, uniqueName } from '../support/env';
import { startFaultProxy, type ProxiedRequest } from '../support/faultProxy';
import { buckets, reportLines, request, type Buckets } from '../support/moveFixture';
import { currentStore } from '../support/stores';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const store = currentStore();
/** SeaweedFS refuses a stale ETag in DeleteObjects; MinIO deletes the object anyway. */
const storeHonoursETag = store === 'seaweedfs';
const CHANGED_KEY = 'data/00003.txt';

/**
 * Runs an archive on a worker process whose S3 requests pass a proxy: the first request that
 * `trigger` picks (after the worker has looked at CHANGED_KEY) is held while CHANGED_KEY is
 * overwritten, so the object changes after the move's check and before its removal.
 */
async function runOverwritingBefore(
  t: TestContext,
  b: Buckets,
  req: ArchiveRequest,
  trigger: (r: ProxiedRequest) => boolean,
): Promise<{ outcome: Promise<ArchiveResult>; overwritten: () => boolean }> {
  let looked = false;
  let overwrite: Promise<unknown> | undefined;
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 0,
    rate: 0,
    stallMs: 0,
    delayFor: (r) => {
      if (r.method === 'HEAD' && r.url.startsWith(`/${b.source}/${CHANGED_KEY}`)) looked = true;
      if (!looked || overwrite !== undefined || !trigger(r)) return 0;
      overwrite = b.client.send(
        new PutObjectCommand({ Bucket: b.source, Key: CHANGED_KEY, Body: 'changed meanwhile' }),
      );
      return 2000;
    },
  });
  t.after(() => proxy.close());
  const { client: temporal, close } = await temporalClient();
  t.after(close);
  const taskQueue = uniqueName('tq');
  const worker = startWorkerProcess(taskQueue, [], { env: { AWS_ENDPOINT_URL_S3: proxy.url } });
  t.after(() => killHard(worker));
  const outcome = temporal.workflow.execute('archive', {
    taskQueue,
    workflowId: archiveWorkflowId(req.destination),
    args: [req],
  }) as Promise<ArchiveResult>;
  return {
    outcome: outcome.then(async (r) => {
      await overwrite;
      return r;
    }),
    overwritten: () => overwrite !== undefined,
  };
}

const isDeleteObjects = (r: ProxiedRequest): boolean =>
  r.method === 'POST' && /[?&]delete(=|&|$)/.test(r.url);
/** GetObjectTagging of CHANGED_KEY: the first step of tagging it. */
const isGetTagging = (r: ProxiedRequest): boolean =>
  r.method === 'GET' && r.url.includes(`/${CHANGED_KEY}?`) && /[?&]tagging(=|&|$)/.test(r.url);

test(`${store}: DeleteObjects with a stale ETag ${storeHonoursETag ? 'is refused' : 'still deletes'}, and the probe says so; with a version id only that version goes`, async (t) => {
  const b = await buckets(0);
  t.after(() => b.remove());
  assert.equal(
    await honoursDeleteETag(b.client, b.source, '.zipflow/state/probe-test/move-probe'),
    storeHonoursETag,
  );
  assert.deepEqual(await keysUnder(b.client, b.source, '.zipflow/'), [], 'probe removed');
  if (storeHonoursETag) {
    const looked = (await headVersion(b.client, b.source, 'keep/a.txt'))!;
    await b.client.send(new PutObjectCommand({ Bucket: b.source, Key: 'keep/a.txt', Body: 'new' }));
    const out = await deleteIfUnchanged(b.client, b.source, [looked]);
    assert.deepEqual(out, { deleted: [], changed: ['keep/a.txt'] });
    assert.equal((await getObject(b.client, b.source, 'keep/a.txt')).toString(), 'new');
  }

  const v = await buckets(0, true);
  t.after(() => v.remove());
  const looked = (await headVersion(v.client, v.source, 'keep/a.txt'))!;
  assert.ok(looked.versionId);
  await v.client.send(new PutObjectCommand({ Bucket: v.source, Key: 'keep/a.txt', Body: 'new' }));
  assert.deepEqual(await deleteIfUnchanged(v.client, v.source, [looked]), {
    deleted: ['keep/a.txt'],
    changed: [],
  });
  assert.equal((await getObject(v.client, v.source, 'keep/a.txt')).toString(), 'new');
  assert.equal(await headVersion(v.client, v.source, 'keep/a.txt', looked.versionId), undefined);
});

test('discard removes a move probe left in the source bucket by a worker that died before removing it', async (t) => {
  const b = await buckets(0);
  t.after(() => b.remove());
  const statePrefix = `.zipflow/state/${uniqueName('probe')}/`;
  const probe = moveProbeKey(statePrefix);
  await b.client.send(new PutObjectCommand({ Bucket: b.source, Key: probe, Body: 'probe' }));
  await new MockActivityEnvironment().run(discardRun, {
    request: request(b, { afterArchive: 'delete' }),
    statePrefix,
  });
  assert.equal(await headVersion(b.client, b.source, probe), undefined, 'probe removed');
  assert.deepEqual(await keysUnder(b.client, b.source, 'keep/'), ['keep/a.txt', 'keep/b.txt']);
});

test(`${store}: afterArchive delete on a bucket without versioning ${storeHonoursETag ? 'leaves an object overwritten after the check and before the delete, reported changed' : 'is refused before anything is archived'}`, async (t) => {
  const b = await buckets(6);
  t.after(() => b.remove());
  const req = request(b, { afterArchive: 'delete' });
  const run = await runOverwritingBefore(t, b, req, isDeleteObjects);
  if (!storeHonoursETag) {
    const err = await run.outcome.then(
      () => assert.fail('the run should have been refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'ConditionalDeleteUnsupported');
    assert.match(err.cause.message, /afterArchive "delete".*Enable versioning/);
    assert.deepEqual((await keysUnder(b.client, b.destination, '')).sort(), [], 'no archive');
    assert.equal((await keysUnder(b.client, b.source, 'data/')).length, 6, 'nothing deleted');
    assert.equal(run.overwritten(), false);
    return;
  }
  const result = await run.outcome;
  assert.ok(run.overwritten());
  assert.equal(result.move?.removed, 5);
  assert.deepEqual(result.move?.changedKeys, [CHANGED_KEY]);
  assert.deepEqual(await keysUnder(b.client, b.source, 'data/'), [CHANGED_KEY]);
  assert.equal((await getObject(b.client, b.source, CHANGED_KEY)).toString(), 'changed meanwhile');
  const lines = await reportLines(b, result.move!.reportKey);
  assert.equal(lines.find((l) => l.key === CHANGED_KEY)?.action, 'changed');
});

test(`${store}: afterArchive delete on a versioned bucket deletes the version archived; a version written after the check and before the delete stays`, async (t) => {
  const b = await buckets(6, true);
  t.after(() => b.remove());
  const archived = (await headVersion(b.client, b.source, CHANGED_KEY))!;
  const req = request(b, { afterArchive: 'delete' });
  const run = await runOverwritingBefore(t, b, req, isDeleteObjects);
  const result = await run.outcome;
  assert.ok(run.overwritten());
  assert.equal(result.move?.removed, 6);
  const lines = await reportLines(b, result.move!.reportKey);
  assert.deepEqual(lines.find((l) => l.key === CHANGED_KEY)?.versionId, archived.versionId);
  assert.deepEqual(await keysUnder(b.client, b.source, 'data/'), [CHANGED_KEY]);
  assert.equal((await getObject(b.client, b.source, CHANGED_KEY)).toString(), 'changed meanwhile');
  const versions = await b.client.send(
    new ListObjectVersionsCommand({ Bucket: b.source, Prefix: 'data/' }),
  );
  assert.equal(versions.Versions?.length, 1, 'only the later version is left');
  assert.equal(versions.DeleteMarkers?.length ?? 0, 0);
});

for (const versioned of [true, false]) {
  test(`${store}: afterArchive tag on a ${versioned ? 'versioned' : 'plain'} bucket, object overwritten after the check and before the tagging: ${versioned ? 'the archived version is tagged, the new one not' : 'the tag is taken off again and the object reported changed'}`, async (t) => {
    const b = await buckets(4, versioned);
    t.after(() => b.remove());
    const archived = (await headVersion(b.client, b.source, CHANGED_KEY))!;
    const req = request(b, { afterArchive: 'tag' });
    const run = await runOverwritingBefore(t, b, req, isGetTagging);
    const result = await run.outcome;
    assert.ok(run.overwritten());
    const tagsOf = async (versionId?: string) =>
      (
        await b.client.send(
          new GetObjectTaggingCommand({
            Bucket: b.source,
            Key: CHANGED_KEY,
            VersionId: versionId,
          }),
        )
      ).TagSet ?? [];
    assert.deepEqual(await tagsOf(), [], 'the new content carries no archived tag');
    const current = await b.client.send(
      new HeadObjectCommand({ Bucket: b.source, Key: CHANGED_KEY }),
    );
    assert.equal(current.ETag === archived.etag, false);
    if (versioned) {
      assert.equal(result.move?.removed, 4);
      assert.equal((await tagsOf(archived.versionId))[0]?.Key, 'zipflow-archived');
    } else {
      assert.equal(result.move?.removed, 3);
      assert.deepEqual(result.move?.changedKeys, [CHANGED_KEY]);
    }
  });
}
