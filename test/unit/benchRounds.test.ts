import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  defaultOptions,
  e2eMarkdown,
  medianRow,
  runRounds,
  type E2eRow,
  type Implementation,
} from '../../bench/e2e/harness';
import { benchResult } from '../support/benchResult';

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
  const result = benchResult({ rows: [single, several] });
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

test('a baseline that fails is left out of the later rounds and the rows, and the run goes on', async () => {
  const ran: string[] = [];
  const { rows, failed } = await runRounds(['zipflow', 'seed', 'raw'], 3, (i, n) => {
    ran.push(`${i}${n}`);
    if (i === 'seed') throw new Error('exit 1, "RuntimeError: File size has increased"');
    return Promise.resolve({ ...round(n, 100, 0), implementation: i });
  });
  assert.deepEqual(ran, ['zipflow1', 'seed1', 'raw1', 'zipflow2', 'raw2', 'zipflow3', 'raw3']);
  assert.deepEqual(
    rows.map((r) => [r.implementation, r.seconds]),
    [
      ['zipflow', 2],
      ['raw', 2],
    ],
  );
  assert.deepEqual([...failed], [['seed', 'exit 1, "RuntimeError: File size has increased"']]);
});

test('zipflow failing still ends the run', async () => {
  await assert.rejects(
    runRounds(['raw', 'zipflow'] as Implementation[], 1, (i) =>
      i === 'zipflow'
        ? Promise.reject(new Error('workflow failed'))
        : Promise.resolve(round(1, 1, 0)),
    ),
    /workflow failed/,
  );
});

test('the table names each baseline that failed, under the rows', () => {
  const result = benchResult({
    options: { workerRuntime: true, workerFrom: 'dist' },
    rows: [round(2, 200, 1)],
    failures: [
      {
        workload: 'large',
        net: 'loopback',
        implementation: 'seed',
        error: 'exit 1, "RuntimeError: a | b"',
      },
    ],
  });
  const text = e2eMarkdown(result);
  assert.ok(
    text.includes(
      'Failed, so not in the table: seed recipe: zipstream 1.1.4 + boto3 upload_fileobj on large (loopback): exit 1, "RuntimeError: a \\| b".',
    ),
    text,
  );
  assert.ok(text.includes('zipflow worker run from compiled JavaScript'));
});

test('a full run measures mid and large in three interleaved rounds each, a quick run in one', () => {
  const specs = {} as Parameters<typeof defaultOptions>[1];
  assert.deepEqual(defaultOptions(false, specs).rounds, { mid: 3, small: 1, text: 1, large: 3 });
  assert.deepEqual(defaultOptions(true, specs).rounds, { mid: 1, small: 1, text: 1, large: 1 });
});
