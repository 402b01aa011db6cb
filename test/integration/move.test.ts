import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DeleteObjectsCommand,
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as activities from '../../src/activities';
import { mapLimited } from '../../src/engine/write/jobs';
import { verifyArchiveObject } from '../../src/engine/verify';
import { startArchive, withClient } from '../../src/client';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { RequestError } from '../../src/shared/validate';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import { getObject, keysUnder, waitUntil } from '../support/archive';
import { killHard, startWorkerProcess } from '../support/workerProcess';

interface Buckets {
  client: S3Client;
  source: string;
  destination: string;
  remove(): Promise<void>;
}

/** Source objects under data/ (archived) and keep/ (outside the source prefix). */
async function buckets(count: number, versioned = false): Promise<Buckets> {
  const client = await s3();
  const source = await tempBucket(client, 'msrc');
  const destination = await tempBucket(client, 'mdst');
  if (versioned) {
    await client.send(
      new PutBucketVersioningCommand({
        Bucket: source.name,
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
  }
  const keys = [
    ...Array.from({ length: count }, (_, i) => `data/${String(i).padStart(5, '0')}.txt`),
    'keep/a.txt',
    'keep/b.txt',
  ];
  await mapLimited(keys, 32, (key) =>
    client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: `object ${key}\n` })),
  );
  return {
    client,
    source: source.name,
    destination: destination.name,
    async remove() {
      if (versioned) await deleteVersions(client, source.name);
      await source.remove();
      await destination.remove();
    },
  };
}

async function deleteVersions(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const out = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const all = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key!,
      VersionId: v.VersionId,
    }));
    if (all.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all } }));
  }
}

function request(b: Buckets, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: b.source, prefix: 'data/' },
    destination: { bucket: b.destination, key: `${uniqueName('move')}.zip` },
    ...extra,
  };
}

/** Runs an archive on an in-process worker whose verifyArchive first does `before`. */
async function runWith(
  req: ArchiveRequest,
  before: () => Promise<void> = async () => undefined,
): Promise<ArchiveResult> {
  const { client, close } = await temporalClient();
  try {
    const verifyArchive: typeof activities.verifyArchive = async (input) => {
      await before();
      return activities.verifyArchive(input);
    };
    return await withWorker({ activities: { ...activities, verifyArchive } }, (taskQueue) =>
      client.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId(req.destination),
        args: [req],
      }),
    );
  } finally {
    await close();
  }
}

async function reportLines(
  b: Buckets,
  key: string,
): Promise<{ key: string; etag: string; action: string }[]> {
  const text = (await getObject(b.client, b.destination, key)).toString().trim();
  return text
    .split('\n')
    .map((l) => JSON.parse(l) as { key: string; etag: string; action: string });
}

test('afterArchive delete: the archived objects go once the archive is verified; one changed meanwhile stays and is reported; objects outside the selection stay', async (t) => {
  const b = await buckets(30);
  t.after(() => b.remove());
  const req = request(b, { afterArchive: 'delete' });
  const result = await runWith(req, async () => {
    // After the archive is written, before it is verified and the sources removed.
    await b.client.send(
      new PutObjectCommand({ Bucket: b.source, Key: 'data/00007.txt', Body: 'changed' }),
    );
  });
  assert.equal(result.verification?.ok, true, 'verified although the request did not ask');
  assert.deepEqual(result.move, {
    action: 'delete',
    dryRun: false,
    removed: 29,
    changed: 1,
    missing: 0,
    changedKeys: ['data/00007.txt'],
    reportKey: `${req.destination.key}.moved.jsonl`,
  });
  assert.deepEqual((await keysUnder(b.client, b.source, '')).sort(), [
    'data/00007.txt',
    'keep/a.txt',
    'keep/b.txt',
  ]);
  assert.equal((await getObject(b.client, b.source, 'data/00007.txt')).toString(), 'changed');
  const lines = await reportLines(b, result.move!.reportKey);
  assert.equal(lines.length, 30);
  assert.equal(lines.filter((l) => l.action === 'deleted').length, 29);
  assert.deepEqual(
    lines.filter((l) => l.action === 'changed').map((l) => l.key),
    ['data/00007.txt'],
  );
  // The archive still holds every object.
  const report = await verifyArchiveObject(b.client, {
    bucket: b.destination,
    key: req.destination.key,
  });
  assert.equal(report.ok, true, report.problems.join('\n'));
  assert.equal(report.entries, 30);
});

test('afterArchive delete with a failing verification removes nothing', async (t) => {
  const b = await buckets(10);
  t.after(() => b.remove());
  const req = request(b, { afterArchive: 'delete' });
  const err = await runWith(req, async () => {
    // The archive's recorded SHA-256 no longer matches its bytes.
    await b.client.send(
      new PutObjectTaggingCommand({
        Bucket: b.destination,
        Key: req.destination.key,
        Tagging: { TagSet: [{ Key: 'zipflow-sha256', Value: '0'.repeat(64) }] },
      }),
    );
  }).then(
    () => assert.fail('the run should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.ok(err.cause instanceof ApplicationFailure);
  assert.equal(err.cause.type, 'VerificationFailed');
  assert.equal((await keysUnder(b.client, b.source, 'data/')).length, 10, 'nothing deleted');
  assert.deepEqual(
    (await keysUnder(b.client, b.destination, '')).filter((k) => k.endsWith('.moved.jsonl')),
    [],
  );
});

test('afterArchive dry run lists what would go and removes nothing; tag marks the objects and keeps them', async (t) => {
  const b = await buckets(5);
  t.after(() => b.remove());
  const dry = await runWith(request(b, { afterArchive: 'delete', dryRun: true }));
  assert.equal(dry.move?.dryRun, true);
  assert.equal(dry.move?.removed, 5);
  const lines = await reportLines(b, dry.move!.reportKey);
  assert.deepEqual(
    lines.map((l) => [l.key, l.action]),
    Array.from({ length: 5 }, (_, i) => [`data/0000${i}.txt`, 'would delete']),
  );
  assert.equal((await keysUnder(b.client, b.source, 'data/')).length, 5);

  const req = request(b, { afterArchive: 'tag' });
  const tagged = await runWith(req);
  assert.equal(tagged.move?.removed, 5);
  assert.equal((await keysUnder(b.client, b.source, 'data/')).length, 5, 'tagging keeps them');
  const tags = await b.client.send(
    new GetObjectTaggingCommand({ Bucket: b.source, Key: 'data/00003.txt' }),
  );
  assert.deepEqual(tags.TagSet, [
    { Key: 'zipflow-archived', Value: `s3://${b.destination}/${req.destination.key}` },
  ]);
});

test('afterArchive is refused when the archive is inside the source selection, naming the field', async () => {
  await withClient({ taskQueue: uniqueName('tq') }, async (client) => {
    await assert.rejects(
      startArchive(client, {
        source: { bucket: 'photos', prefix: '2026/' },
        destination: { bucket: 'photos', key: '2026/archive.zip' },
        afterArchive: 'delete',
      }),
      (err: unknown) =>
        err instanceof RequestError &&
        err.field === 'destination.key' &&
        /inside the source selection/.test(err.message),
    );
  });
});

test('afterArchive delete survives a worker killed while deleting: every archived object deleted once, reported once, nothing else deleted', async (t) => {
  const count = 2500; // three DeleteObjects batches
  const b = await buckets(count, true);
  t.after(() => b.remove());
  const req = request(b, { afterArchive: 'delete' });
  const { client: temporal, close } = await temporalClient();
  t.after(close);
  const taskQueue = uniqueName('tq');
  let worker = startWorkerProcess(taskQueue);
  try {
    const handle = await temporal.workflow.start('archive', {
      taskQueue,
      workflowId: archiveWorkflowId(req.destination),
      args: [req],
    });
    const movePrefix = `.zipflow/state/${handle.firstExecutionRunId}/move/`;
    await waitUntil(
      'the first batch is deleted',
      async () =>
        (await keysUnder(b.client, b.destination, movePrefix)).some((k) =>
          k.endsWith('.done.jsonl'),
        ),
      180_000,
    );
    await killHard(worker);
    const reportKey = `${req.destination.key}.moved.jsonl`;
    const doneAtKill = (await keysUnder(b.client, b.destination, movePrefix)).filter((k) =>
      k.endsWith('.done.jsonl'),
    ).length;
    t.diagnostic(`killed with ${doneAtKill} of 3 batches done`);
    assert.deepEqual(
      (await keysUnder(b.client, b.destination, reportKey)).length,
      0,
      'killed before the move finished',
    );
    worker = startWorkerProcess(taskQueue);
    const result = (await handle.result()) as ArchiveResult;
    assert.equal(result.move?.removed, count);
    assert.equal(result.move?.changed, 0);
    assert.equal(result.move?.missing, 0);
    const lines = await reportLines(b, reportKey);
    assert.equal(lines.length, count);
    assert.equal(new Set(lines.map((l) => l.key)).size, count, 'each object reported once');
    assert.ok(lines.every((l) => l.action === 'deleted'));
    // Versioning shows every delete: one delete marker per archived object, none elsewhere.
    const markers = new Map<string, number>();
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const out = await b.client.send(
        new ListObjectVersionsCommand({
          Bucket: b.source,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      );
      for (const m of out.DeleteMarkers ?? []) markers.set(m.Key!, (markers.get(m.Key!) ?? 0) + 1);
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
    assert.equal(markers.size, count);
    assert.ok(
      [...markers.values()].every((n) => n === 1),
      'nothing deleted twice',
    );
    assert.ok(![...markers.keys()].some((k) => k.startsWith('keep/')), 'nothing else deleted');
    assert.deepEqual((await keysUnder(b.client, b.source, '')).sort(), [
      'keep/a.txt',
      'keep/b.txt',
    ]);
  } finally {
    await killHard(worker);
  }
});
