import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  e2eMarkdown,
  reachable,
  targets,
  type E2eRow,
  type Implementation,
} from '../../bench/e2e/harness';
import { benchResult } from '../support/benchResult';

/** A measured row: `mbPerSecond` over `inputBytes`, nothing else that targets() reads. */
function row(
  workload: E2eRow['workload'],
  implementation: Implementation,
  mbPerSecond: number,
  inputBytes = 1000e6,
  extra: Partial<E2eRow> = {},
): E2eRow {
  return {
    workload,
    implementation,
    entries: 100,
    inputBytes,
    outputBytes: inputBytes,
    seconds: inputBytes / 1e6 / mbPerSecond,
    mbPerSecond,
    objectsPerSecond: 100 / (inputBytes / 1e6 / mbPerSecond),
    roundsMbPerSecond: [mbPerSecond],
    peakRssMiB: 200,
    sampledRssMiB: 199,
    s3BytesRead: inputBytes,
    s3BytesSent: inputBytes,
    zipflowRatio: NaN,
    verification: { entries: 100, sampledEntries: 4, bytesCompared: 4000 },
    ...extra,
  };
}

const rows: E2eRow[] = [
  row('mid', 'zipflow', 200),
  // Copies the 600 MB of objects of 5 MiB or more; reads the 400 MB it streams.
  row('mid', 'zipflow-copy', 220, 1000e6, { s3BytesRead: 401e6 }),
  row('mid', 'raw', 210),
  row('mid', 'archiver', 170),
  row('mid', 'copies', 400, 600e6),
  row('small', 'zipflow', 10, 100e6),
  row('small', 'archiver', 9, 100e6),
  row('small', 'gets', 18, 100e6),
];

const find = (workload: string, words: string) =>
  targets(rows).find((t) => t.workload === workload && t.description.includes(words))!;

test('each speed target says the most the same run allows, from the ceiling row or a store probe', () => {
  const archiver = find('mid', 'archiver');
  assert.equal(archiver.measured, 1.18);
  assert.equal(archiver.ceiling?.value, 1.24);
  assert.equal(reachable(archiver), false, '210 ÷ 170 is under 1.5');

  const small = find('small', 'objects/s');
  assert.equal(small.ceiling?.value, 2, 'GETs alone: 18 ÷ 9');
  assert.equal(reachable(small), false);
  const rawFaster = targets([...rows, row('small', 'raw', 27, 100e6)]).find(
    (t) => t.workload === 'small' && t.unit === '×',
  )!;
  assert.equal(rawFaster.ceiling?.value, 3, 'the faster of GETs only and raw: 27 ÷ 9');
  assert.equal(reachable(rawFaster), true);

  // 40% must be streamed: at 200 MB/s that alone takes 0.4 of the streaming run's time, and
  // copying 60% at 400 MB/s takes 0.3 of it, so no copy run beats streaming by more than 2.5×.
  const copy = find('mid', 'MB/s ≥ 3×');
  assert.equal(copy.measured, 1.1);
  assert.equal(copy.ceiling?.value, 2.5);
  assert.equal(reachable(copy), false);

  const through = find('mid', 'bytes through the worker');
  assert.equal(through.measured, 40.1);
  assert.equal(through.ceiling?.value, 40, 'the objects under 5 MiB');
  assert.equal(reachable(through), false);

  assert.equal(find('mid', 'raw multipart, no ZIP').ceiling, undefined);
  assert.equal(reachable(find('mid', 'peak worker RSS')), true, 'no ceiling: reachable');
});

test('without the probe a target has no ceiling, and a copy run that streams little is reachable', () => {
  const without = rows.filter((r) => r.workload !== 'small' || r.implementation !== 'gets');
  const small = targets(without).find((t) => t.workload === 'small' && t.unit === '×')!;
  assert.equal(small.ceiling, undefined);

  const mostlyCopied = targets([
    row('large', 'zipflow', 250, 4000e6),
    row('large', 'zipflow-copy', 450, 4000e6, { s3BytesRead: 5e6 }),
    row('large', 'copies', 900, 3999e6),
  ]).find((t) => t.description.includes('bytes through the worker'))!;
  assert.equal(mostlyCopied.ceiling?.value, 0.03);
  assert.equal(reachable(mostlyCopied), true);
  assert.equal(mostlyCopied.met, true);
});

test('the targets table shows each ceiling and tells a miss that is out of reach from one that is not', () => {
  const result = benchResult({
    rows,
    targets: [
      ...targets(rows),
      {
        workload: 'text',
        description: 'a made-up target',
        measured: 1,
        unit: '×',
        target: 2,
        met: false,
      },
    ],
  });
  const lines = e2eMarkdown(result).split('\n');
  const line = (words: string) => lines.find((l) => l.includes(words))!;
  assert.match(
    line('3× archiver'),
    /\| 1\.11× \| 2\.00× \(the faster of GETs only and raw multipart, ÷ archiver\) \| missed, beyond this run’s ceiling \|$/,
  );
  assert.match(line('a made-up target'), /\| 1\.00× \| — \| missed \|$/);
  assert.match(line('peak worker RSS (VmHWM) ≤ 256 MiB |'), /\| 200 MiB \| — \| met \|$/);
  assert.match(line('GETs only, nothing written'), /100 objects, each one's size and CRC-32 \|$/);
});

test('each row shows what the store and the Temporal server spent per GB, where the bench ran them', () => {
  const result = benchResult({
    rows: [
      row('mid', 'zipflow', 150, 1000e6, { serverCpuSecondsPerGB: { store: 5.73, temporal: 0.3 } }),
      row('mid', 'zipstream', 180, 1000e6, {
        serverCpuSecondsPerGB: { store: 6.22, temporal: 0.03 },
      }),
      row('mid', 'raw', 170),
    ],
  });
  const lines = e2eMarkdown(result).split('\n');
  const header = lines.find((l) => l.startsWith('| path | workload | implementation |'))!;
  const column = header.split(' | ').indexOf('MinIO / Temporal CPU s/GB');
  assert.ok(column > 0, 'a column for the servers');
  const cell = (label: string) =>
    lines.find((l) => l.includes(label) && l.startsWith('| loopback'))!.split(' | ')[column];
  assert.equal(cell('zipflow (workflow'), '5.73 / 0.30');
  assert.equal(cell('zipstream-ng'), '6.22 / 0.03');
  assert.equal(cell('raw multipart, no ZIP'), '—', 'a stack the bench did not start');
});
