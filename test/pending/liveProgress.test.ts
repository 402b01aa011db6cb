import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  connect,
  startArchive,
  waitForArchive,
  type ArchiveProgress,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/client';
import { slowStoreFor } from '../support/faultProxy';
import { waitUntil } from '../support/archive';
import { s3, tempBucket, uniqueName } from '../support/env';
import { killHard, startWorkerProcess } from '../support/workerProcess';

// A run slowed to tens of seconds by a store that answers every request late: the progress
// the public client shows must move every few seconds, also after a worker dies mid-stream.

const MiB = 1024 * 1024;
const OBJECTS = 48;
const OBJECT_SIZE = MiB;
const LARGE_OBJECTS = 12;

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < OBJECTS; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `in/${String(i).padStart(3, '0')}.bin`,
        Body: crypto.randomBytes(OBJECT_SIZE),
      }),
    );
  }
  // Objects the store can copy itself (5 MiB or more), for the server-side copy run.
  for (let i = 0; i < LARGE_OBJECTS; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `large/${i}.bin`,
        Body: crypto.randomBytes(6 * MiB),
        // The CRC-32 the copied entries' records are built from.
        ChecksumAlgorithm: 'CRC32',
      }),
    );
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

interface Sample extends ArchiveProgress {
  seenAt: number;
}

function request(key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
    partSize: 5 * MiB,
    ...extra,
    source: { bucket: source.name, prefix: extra.source?.prefix ?? 'in/' },
  };
}

/** Times the streamed bytes went up, in the samples taken while the run streamed. */
function rises(samples: Sample[]): number {
  let n = 0;
  const streaming = samples.filter((s) => s.phase === 'stream');
  for (let i = 1; i < streaming.length; i++)
    if (streaming[i].bytesDone > streaming[i - 1].bytesDone) n++;
  return n;
}

/** Starts a run on a worker behind the slow store, and samples its progress until it ends. */
async function sampledRun(
  t: TestContext,
  extra: Partial<ArchiveRequest>,
  during: (ctx: {
    samples: Sample[];
    restartWorker(): Promise<void>;
  }) => Promise<void> = async () => {},
): Promise<{ samples: Sample[]; result: ArchiveResult; killedAt?: number }> {
  const slowStore = await slowStoreFor(t, 250);
  const env = { AWS_ENDPOINT_URL_S3: slowStore.url };
  const taskQueue = uniqueName('tq-live');
  let worker = startWorkerProcess(taskQueue, [], { env });
  const zipflow = await connect({ taskQueue });
  const samples: Sample[] = [];
  let killedAt: number | undefined;
  try {
    const handle = await startArchive(zipflow, request(`${uniqueName('live')}.zip`, extra));
    const running = waitForArchive(
      zipflow,
      handle.workflowId,
      (p) => samples.push({ ...p, seenAt: Date.now() }),
      500,
    );
    await during({
      samples,
      async restartWorker() {
        killedAt = Date.now();
        await killHard(worker);
        worker = startWorkerProcess(taskQueue, [], { env });
      },
    });
    const result = (await running) as ArchiveResult;
    t.diagnostic(
      `${result.durationMs} ms, ${samples.length} samples, ${rises(samples)} rises, resumes ${result.resumes}`,
    );
    return { samples, result, killedAt };
  } finally {
    await killHard(worker);
    await zipflow.close();
  }
}

test('a streaming run slowed to tens of seconds: the figures move every few seconds, and after a worker is killed the resumed attempt shows a non-zero rate', async (t) => {
  const { samples, result, killedAt } = await sampledRun(t, {}, async (run) => {
    await waitUntil(
      'the stream has risen three times',
      async () => rises(run.samples) >= 3,
      120_000,
    );
    await run.restartWorker();
  });
  assert.ok(killedAt !== undefined);
  assert.ok(result.resumes >= 1, 'the stream resumed on the new worker');
  const before = samples.filter((s) => s.phase === 'stream' && s.seenAt < killedAt);
  const afterResume = samples.filter((s) => s.phase === 'stream' && s.resumes >= 1);
  assert.ok(rises(samples) >= 5, `the figures rose ${rises(samples)} times`);
  // Live: each figure is a heartbeat a few seconds old at most, not the 30 s signal's.
  for (const s of before.filter((s) => s.bytesDone > 0))
    assert.ok(
      s.seenAt - Date.parse(s.updatedAt) <= 5_000,
      `figures of ${s.updatedAt} seen at ${new Date(s.seenAt).toISOString()}`,
    );
  assert.ok(
    before.some((s) => (s.bytesPerSecond ?? 0) > 0),
    'a rate before the kill',
  );
  // After the resume: the new attempt's rate, over its own recent window, is not zero once it
  // has measured, and stays so while it streams.
  const measured = afterResume.findIndex((s) => (s.bytesPerSecond ?? 0) > 0);
  assert.ok(measured >= 0, 'the resumed attempt reports a rate');
  const zeros = afterResume.slice(measured).filter((s) => s.bytesPerSecond === 0);
  assert.deepEqual(zeros, [], 'the rate after the resume stays above zero');
  assert.ok(rises(afterResume) >= 1, 'the figures move after the resume');
  // Between the kill and the resume, and at the end, they never go past the totals.
  for (const s of samples) {
    assert.ok(s.bytesDone <= s.bytesTotal && s.entriesDone <= s.entriesTotal);
  }
});

for (const [path, extra] of [
  ['parallel assembly', { parallel: 2 }],
  ['server-side copy', { serverSideCopy: true, source: { bucket: '', prefix: 'large/' } }],
] as const) {
  test(`${path}: the figures move while the run streams, with a rate`, async (t) => {
    const { samples, result } = await sampledRun(t, extra);
    if ('serverSideCopy' in extra) assert.ok((result.copiedBytes ?? 0) > 0, 'the store copied');
    const streaming = samples.filter((s) => s.phase === 'stream');
    assert.ok(rises(samples) >= 3, `the figures rose ${rises(samples)} times`);
    assert.ok(
      streaming.some((s) => (s.bytesPerSecond ?? 0) > 0),
      'a rate while the run streams',
    );
    for (const s of samples) assert.ok(s.bytesDone <= s.bytesTotal);
  });
}
