import assert from 'node:assert/strict';
import { test } from 'node:test';
import { e2eMarkdown, medianRow, type E2eResult, type E2eRow } from '../../bench/e2e/harness';

function round(seconds: number, peakRssMiB: number, s3BytesRead: number): E2eRow {
  const mbPerSecond = Number((100 / seconds).toFixed(1));
  return {
    workload: 'mid',
    implementation: 'zipflow',
    entries: 10,
    inputBytes: 100e6,
    outputBytes: 100e6 + 1000,
    seconds,
    mbPerSecond,
    objectsPerSecond: 10 / seconds,
    roundsMbPerSecond: [mbPerSecond],
    peakRssMiB,
    sampledRssMiB: peakRssMiB - 2,
    s3BytesRead,
    s3BytesSent: 100e6 + 2000,
    zipflowRatio: NaN,
    verification: { entries: 10, sampledEntries: 4, bytesCompared: 4000 },
  };
}

test('an implementation run in rounds is reported by its median round, with the highest memory of any round', () => {
  const row = medianRow([round(2, 200, 1), round(4, 250, 2), round(1, 210, 3)]);
  assert.equal(row.seconds, 2);
  assert.equal(row.mbPerSecond, 50);
  assert.equal(row.s3BytesRead, 1, 'bytes are the median round’s');
  assert.deepEqual(row.roundsMbPerSecond, [50, 25, 100], 'every round, in the order run');
  assert.equal(row.peakRssMiB, 250);
  assert.equal(row.sampledRssMiB, 248);
  // Of an even number of rounds, the slower middle one.
  assert.equal(
    medianRow([round(1, 1, 0), round(3, 1, 0), round(2, 1, 0), round(4, 1, 0)]).seconds,
    3,
  );
  assert.equal(medianRow([round(5, 1, 0)]).seconds, 5);
});

test('the table lists every round’s MB/s beside the median when there were several', () => {
  const single = round(2, 200, 1);
  const several = {
    ...medianRow([round(2, 200, 1), round(4, 250, 2), round(1, 210, 3)]),
    workload: 'text' as const,
  };
  const result = {
    startedAt: '2026-11-25T05:00:00.000Z',
    quick: false,
    node: 'v20',
    machine: { cpus: 2, loadAverageAtStart: [1, 1, 1] },
    options: { partSize: 8 * 1024 * 1024, concurrency: 4, level: 6, workerRuntime: false },
    seeds: [],
    rows: [single, several],
    targets: [],
  } as unknown as E2eResult;
  const lines = e2eMarkdown(result).split('\n');
  assert.ok(
    lines.some((l) => l.startsWith('| loopback | mid |') && l.includes('| 50.0 |')),
    'one round: the figure alone',
  );
  assert.ok(
    lines.some(
      (l) => l.startsWith('| loopback | text |') && l.includes('| 50.0 (50.0, 25.0, 100.0) |'),
    ),
  );
});
