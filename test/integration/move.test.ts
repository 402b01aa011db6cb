import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  GetObjectTaggingCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { verifyArchiveObject } from '../../src/engine/verify';
import { startArchive, withClient } from '../../src/client';
import { archiveWorkflowId, type ArchiveResult } from '../../src/shared/request';
import { RequestError } from '../../src/shared/validate';
import { temporalClient, uniqueName } from '../support/env';
import { getObject, keysUnder, waitUntil } from '../support/archive';
import { buckets, reportLines, request, runWith } from '../support/moveFixture';
import { killHard, startWorkerProcess } from '../support/workerProcess';

test('afterArchive delete: the archived objects go once the archive is verified; one changed meanwhile stays and is reported; objects outside the selection stay', async (t) => {
  const b = await buckets(30, true);
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
  const b = await buckets(10, true);
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
    // Written while no worker runs: a new version of an archived key, in the last batch.
    const rewritten = `data/${String(count - 1).padStart(5, '0')}.txt`;
    await b.client.send(
      new PutObjectCommand({ Bucket: b.source, Key: rewritten, Body: 'written later' }),
    );
    worker = startWorkerProcess(taskQueue);
    const result = (await handle.result()) as ArchiveResult;
    // Whether the last batch was decided before the kill decides how the rewritten key is
    // reported: its archived version deleted by version id, or the key left as changed.
    assert.equal((result.move?.removed ?? 0) + (result.move?.changed ?? 0), count);
    assert.ok((result.move?.changed ?? 0) <= 1);
    assert.equal(result.move?.missing, 0);
    const lines = await reportLines(b, reportKey);
    assert.equal(lines.length, count);
    assert.equal(new Set(lines.map((l) => l.key)).size, count, 'each object reported once');
    assert.ok(
      lines.every((l) => l.action === 'deleted' || (l.key === rewritten && l.action === 'changed')),
    );
    assert.ok(
      lines.every((l) => l.action !== 'deleted' || l.versionId !== undefined),
      'every delete names the version archived',
    );
    // Deletes name versions: the archived versions are gone, no delete marker was written,
    // the later version of the rewritten key and everything outside the selection stay.
    const versions: { key: string; versionId: string }[] = [];
    let markers = 0;
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
      for (const v of out.Versions ?? []) versions.push({ key: v.Key!, versionId: v.VersionId! });
      markers += out.DeleteMarkers?.length ?? 0;
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
    assert.equal(markers, 0);
    const deletedVersions = new Set(lines.map((l) => l.versionId));
    assert.ok(!versions.some((v) => deletedVersions.has(v.versionId)), 'archived versions gone');
    assert.deepEqual(
      versions.map((v) => v.key).sort(),
      lines.some((l) => l.key === rewritten && l.action === 'changed')
        ? ['data/02499.txt', 'data/02499.txt', 'keep/a.txt', 'keep/b.txt']
        : ['data/02499.txt', 'keep/a.txt', 'keep/b.txt'],
    );
    assert.equal((await getObject(b.client, b.source, rewritten)).toString(), 'written later');
  } finally {
    await killHard(worker);
  }
});
