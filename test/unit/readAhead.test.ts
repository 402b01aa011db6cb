import assert from 'node:assert/strict';
import { getMaxListeners } from 'node:events';
import { test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_READ_AHEAD,
  FAR_FIRST_BYTE_MS,
  noteFirstByte,
  rangeSizeFor,
  ReadAhead,
  readLimitsFor,
} from '../../src/engine/read/readAhead';
import { rangesOf, sourcePartSize } from '../../src/s3/rangeFetch';

test('the reads ahead may all listen on the activity signal without a MaxListeners warning', () => {
  const controller = new AbortController();
  const client = new S3Client({ region: 'us-east-1' });
  new ReadAhead(client, 'bucket', [], 0, controller.signal);
  assert.ok(getMaxListeners(controller.signal) > DEFAULT_READ_AHEAD.count);
  client.destroy();
});

const MiB = 1024 * 1024;
const request = {
  source: { bucket: 'a', prefix: '' },
  destination: { bucket: 'b', key: 'c.zip' },
};

test('read concurrency: the request, else ZIPFLOW_READ_CONCURRENCY, else 4; the budget holds that many 4 MiB ranges, with twice as many GETs', () => {
  const saved = process.env.ZIPFLOW_READ_CONCURRENCY;
  try {
    delete process.env.ZIPFLOW_READ_CONCURRENCY;
    // Unset: 4 ranges of 4 MiB (16 MiB), up to 8 GETs in flight.
    assert.deepEqual(readLimitsFor(request), DEFAULT_READ_AHEAD);
    assert.equal(DEFAULT_READ_AHEAD.rangeSize, 4 * MiB);
    assert.equal(DEFAULT_READ_AHEAD.bytes, 16 * MiB);
    assert.equal(DEFAULT_READ_AHEAD.concurrency, 8);
    process.env.ZIPFLOW_READ_CONCURRENCY = '12';
    assert.equal(readLimitsFor(request).bytes, 12 * 4 * MiB);
    assert.equal(readLimitsFor(request).concurrency, 24);
    assert.equal(readLimitsFor({ ...request, readConcurrency: 2 }).bytes, 2 * 4 * MiB);
  } finally {
    if (saved === undefined) delete process.env.ZIPFLOW_READ_CONCURRENCY;
    else process.env.ZIPFLOW_READ_CONCURRENCY = saved;
  }
});

test('read range size: the request, else ZIPFLOW_READ_RANGE_SIZE, else by the path; once set it does not halve on a far path', () => {
  const saved = process.env.ZIPFLOW_READ_RANGE_SIZE;
  const client = new S3Client({ region: 'us-east-1' });
  try {
    delete process.env.ZIPFLOW_READ_RANGE_SIZE;
    for (let i = 0; i < 8; i++) noteFirstByte(client, 3 * FAR_FIRST_BYTE_MS);
    assert.equal(readLimitsFor(request).fixedRangeSize, undefined);
    assert.equal(rangeSizeFor(client, readLimitsFor(request)), 2 * MiB, 'default: halved on far');
    const set = readLimitsFor({ ...request, readRangeSize: 16 * MiB });
    assert.equal(set.rangeSize, 16 * MiB);
    assert.equal(set.bytes, 16 * MiB, 'the budget stays readConcurrency × 4 MiB');
    assert.equal(rangeSizeFor(client, set), 16 * MiB, 'fixed: the far path does not halve it');
    process.env.ZIPFLOW_READ_RANGE_SIZE = String(8 * MiB);
    assert.equal(rangeSizeFor(client, readLimitsFor(request)), 8 * MiB);
    assert.equal(
      readLimitsFor({ ...request, readRangeSize: 32 * MiB }).rangeSize,
      32 * MiB,
      'the request wins over the worker',
    );
  } finally {
    client.destroy();
    if (saved === undefined) delete process.env.ZIPFLOW_READ_RANGE_SIZE;
    else process.env.ZIPFLOW_READ_RANGE_SIZE = saved;
  }
});

test('ranges follow the source parts when its ETag gives their count, else multiples of the range size', () => {
  const plain = { bucket: 'a', key: 'k', size: 20 * MiB, etag: '"abc"' };
  assert.deepEqual(rangesOf(plain, 0, plain.size, 8 * MiB), [
    [0, 8 * MiB],
    [8 * MiB, 16 * MiB],
    [16 * MiB, 20 * MiB],
  ]);
  // Resumed at a byte: the first range runs to the next boundary, the others line up.
  assert.deepEqual(rangesOf(plain, 3 * MiB, 17 * MiB, 8 * MiB), [
    [3 * MiB, 8 * MiB],
    [8 * MiB, 16 * MiB],
    [16 * MiB, 17 * MiB],
  ]);
  // Uploaded in 5 MiB parts (4 of them): ranges of one part (two would be 10 MiB > 8 MiB).
  const parts = { ...plain, etag: '"abc-4"' };
  assert.equal(sourcePartSize(parts), 5 * MiB);
  assert.deepEqual(
    rangesOf(parts, 0, parts.size, 8 * MiB).map(([a]) => a / MiB),
    [0, 5, 10, 15],
  );
  // 3 MiB parts: two per range.
  const small = { ...plain, size: 12 * MiB, etag: '"abc-4"' };
  assert.equal(sourcePartSize(small), 3 * MiB);
  assert.deepEqual(rangesOf(small, 0, small.size, 8 * MiB), [
    [0, 6 * MiB],
    [6 * MiB, 12 * MiB],
  ]);
  // A part count no whole number of MiB gives: plain ranges.
  assert.equal(sourcePartSize({ ...plain, etag: '"abc-6"' }), undefined);
});

test('ranges are 4 MiB until the fastest of the last 8 GETs took FAR_FIRST_BYTE_MS or more to answer, then 2 MiB', () => {
  const client = new S3Client({ region: 'us-east-1' });
  const size = (): number => rangeSizeFor(client, DEFAULT_READ_AHEAD);
  assert.equal(size(), 4 * MiB, 'no GET answered yet');
  for (let i = 0; i < 3; i++) noteFirstByte(client, 3 * FAR_FIRST_BYTE_MS);
  assert.equal(size(), 4 * MiB, 'three answers are too few to judge the path by');
  noteFirstByte(client, 3 * FAR_FIRST_BYTE_MS);
  assert.equal(size(), 2 * MiB, 'four slow answers: a far path');
  // One fast answer among the last eight: the path is near, the slow ones were a busy moment.
  noteFirstByte(client, 2);
  assert.equal(size(), 4 * MiB);
  for (let i = 0; i < 7; i++) noteFirstByte(client, FAR_FIRST_BYTE_MS);
  assert.equal(size(), 4 * MiB, 'the fast answer is still among the last eight');
  noteFirstByte(client, FAR_FIRST_BYTE_MS);
  assert.equal(size(), 2 * MiB, 'it has left the window');
  assert.equal(
    rangeSizeFor(client, { ...DEFAULT_READ_AHEAD, rangeSize: MiB }),
    MiB,
    'never below 1 MiB',
  );
  client.destroy();
});
