import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/common';
import { buildCli } from '../../src/client/cli';
import { ArchiveFailedError } from '../../src/client/archives';
import { parseSize, requestFromArguments } from '../../src/client/commands/archive';
import { describeError, EXIT } from '../../src/client/commands/output';
import { formatProgress, RateMeter } from '../../src/client/progressBar';
import type { ArchiveProgress } from '../../src/shared/progress';
import { RequestError, validateRequest } from '../../src/shared/validate';

/** Runs the CLI in-process, capturing what commander writes; resolves to the error it threw. */
async function parse(...args: string[]): Promise<{ out: string; err: string; thrown: unknown }> {
  let out = '';
  let err = '';
  const program = buildCli({
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
  });
  try {
    await program.parseAsync(['node', 'zipflow', ...args]);
    return { out, err, thrown: undefined };
  } catch (thrown) {
    return { out, err, thrown };
  }
}

test('every command has --help, which exits 0 and shows its usage', async () => {
  const program = buildCli();
  const commands = program.commands.flatMap((c) =>
    c.commands.length > 0 ? c.commands.map((s) => [c.name(), s.name()]) : [[c.name()]],
  );
  assert.ok(commands.length >= 8, `commands: ${commands.join(' ')}`);
  for (const command of [[], ...commands]) {
    const { out, thrown } = await parse(...command, '--help');
    assert.ok(thrown instanceof CommanderError, command.join(' '));
    assert.equal(describeError(thrown).code, EXIT.ok, command.join(' '));
    assert.match(out, new RegExp(`^Usage: zipflow ${command.join(' ')}`), out);
  }
});

test('archive arguments become a request the validator accepts', () => {
  const request = requestFromArguments('s3://logs/2026/', 's3://archives/logs-2026.zip', {
    include: ['**/*.log'],
    exclude: ['tmp/**'],
    flatten: true,
    entryPrefix: 'logs',
    compression: 'deflate',
    level: 9,
    partSize: parseSize('64MiB'),
    concurrency: 8,
    readRangeSize: parseSize('16MiB'),
    storageClass: 'STANDARD_IA',
    sse: 'aws:kms',
    kmsKeyId: 'alias/archive',
    onSourceChange: 'skip',
    entryOrder: 'packed',
    localHeaders: 'known',
    overwrite: true,
  });
  assert.deepEqual(validateRequest(JSON.parse(JSON.stringify(request))), {
    source: { bucket: 'logs', prefix: '2026/', include: ['**/*.log'], exclude: ['tmp/**'] },
    destination: {
      bucket: 'archives',
      key: 'logs-2026.zip',
      overwrite: true,
      storageClass: 'STANDARD_IA',
      serverSideEncryption: { type: 'aws:kms', kmsKeyId: 'alias/archive' },
    },
    compression: { method: 'deflate', level: 9 },
    naming: { mode: 'flatten', prefix: 'logs' },
    partSize: 64 * 1024 * 1024,
    uploadConcurrency: 8,
    readRangeSize: 16 * 1024 * 1024,
    entryOrder: 'packed',
    localHeaders: 'known',
    onSourceChange: 'skip',
  });
});

test('sizes take units; bad sizes, numbers and URLs are usage errors (exit 2) that name the argument', async () => {
  assert.equal(parseSize('16MiB'), 16 * 1024 * 1024);
  assert.equal(parseSize('5 MB'), 5_000_000);
  assert.equal(parseSize('1GiB'), 1024 ** 3);
  assert.equal(parseSize('4096'), 4096);
  const size = await parse('archive', 's3://a/b', 's3://c/d.zip', '--part-size', 'lots');
  assert.equal(describeError(size.thrown).code, EXIT.usage);
  assert.match(size.err, /--part-size <size>.*lots.*16MiB/s);
  const range = await parse('archive', 's3://a/b', 's3://c/d.zip', '--read-range-size', 'big');
  assert.equal(describeError(range.thrown).code, EXIT.usage);
  assert.match(range.err, /--read-range-size <size>.*big/s);
  const level = await parse('archive', 's3://a/b', 's3://c/d.zip', '--level', 'high');
  assert.equal(describeError(level.thrown).code, EXIT.usage);
  assert.match(level.err, /--level <n>.*whole number/s);
  const order = await parse('archive', 's3://a/b', 's3://c/d.zip', '--entry-order', 'size');
  assert.equal(describeError(order.thrown).code, EXIT.usage);
  assert.match(order.err, /--entry-order.*size.*listing, packed/s);
  const headers = await parse('archive', 's3://a/b', 's3://c/d.zip', '--local-headers', 'x');
  assert.equal(describeError(headers.thrown).code, EXIT.usage);
  assert.match(headers.err, /--local-headers.*x.*auto, descriptor, known/s);
  const url = await parse('archive', 'a/b', 's3://c/d.zip');
  assert.ok(url.thrown instanceof RequestError);
  assert.deepEqual(describeError(url.thrown), {
    code: EXIT.usage,
    message: 'source: "a/b" is not an S3 URL: write it as s3://bucket/key',
  });
  assert.equal(describeError((await parse('no-such-command')).thrown).code, EXIT.usage);
});

test('a request the validator refuses is a usage error before anything connects', async () => {
  const saved = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = '127.0.0.1:1'; // nothing listens: connecting would fail
  try {
    for (const [flag, value, field] of [
      ['--read-range-size', '100', 'readRangeSize'],
      ['--part-size', '1MiB', 'partSize'],
    ]) {
      const { thrown } = await parse(
        'archive',
        's3://source-bucket/b',
        's3://archive-bucket/d.zip',
        flag,
        value,
      );
      assert.ok(thrown instanceof RequestError, `${flag}: ${String(thrown)}`);
      assert.equal(thrown.field, field);
      assert.equal(describeError(thrown).code, EXIT.usage);
    }
  } finally {
    if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
    else process.env.TEMPORAL_ADDRESS = saved;
  }
});

test('a schedule the validator refuses is a usage error before anything connects', async () => {
  const saved = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = '127.0.0.1:1'; // nothing listens: connecting would fail
  try {
    for (const [args, field] of [
      [
        ['s3://source-bucket/b', 's3://archive-bucket/same.zip', '--every', '1d'],
        'destination.key',
      ],
      [['s3://source-bucket/b', 's3://archive-bucket/{yyyy}.zip', '--every', '0d'], 'spec'],
      [
        [
          's3://source-bucket/b',
          's3://archive-bucket/{yyyy}.zip',
          '--every',
          '1d',
          '--level',
          '12',
        ],
        'compression.level',
      ],
    ] as const) {
      const { thrown } = await parse('schedule', 'create', 'nightly', ...args);
      assert.ok(thrown instanceof RequestError, `${args.join(' ')}: ${String(thrown)}`);
      assert.equal(thrown.field, field);
      assert.equal(describeError(thrown).code, EXIT.usage);
    }
  } finally {
    if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
    else process.env.TEMPORAL_ADDRESS = saved;
  }
});

test('failures map to exit codes a shell can rely on', () => {
  assert.deepEqual(describeError(new ArchiveFailedError('s3://b/k exists', 'DestinationExists')), {
    code: EXIT.failed,
    message: 'archive failed (DestinationExists): s3://b/k exists',
  });
  assert.equal(
    describeError(new ArchiveFailedError('the run was cancelled', 'Cancelled')).code,
    EXIT.cancelled,
  );
  assert.equal(
    describeError(new WorkflowNotFoundError('gone', 'zipflow:s3://b/k', undefined)).code,
    EXIT.notFound,
  );
  assert.equal(describeError(new Error('connect ECONNREFUSED')).code, EXIT.error);
});

const progress: ArchiveProgress = {
  phase: 'stream',
  entriesTotal: 70_000,
  bytesTotal: 4_000_000_000,
  entriesDone: 35_000,
  bytesDone: 1_000_000_000,
  partsDone: 14,
  currentPart: 15,
  resumes: 1,
  updatedAt: '2026-11-24T12:00:00.000Z',
};

test('progress lines: bytes, rate, ETA, entries, part and resumes; a bar for terminals', () => {
  assert.equal(
    formatProgress(progress, 100_000_000),
    'stream:  25% 1.0 GB of 4.0 GB, 100.0 MB/s, ETA 0:30, entries 35000/70000, part 15, resumes 1',
  );
  assert.equal(
    formatProgress(progress, 100_000_000, 8),
    'stream [##------]  25% 1.0 GB of 4.0 GB  100.0 MB/s  ETA 0:30  entries 35000/70000  part 15  resumes 1',
  );
  assert.equal(
    formatProgress({ ...progress, resumes: 0 }, 0).endsWith(
      'ETA --:--, entries 35000/70000, part 15',
    ),
    true,
  );
  // A rate the worker has not measured yet is shown as unknown, not as a stall.
  assert.equal(
    formatProgress(progress, undefined),
    'stream:  25% 1.0 GB of 4.0 GB, -- B/s, ETA --:--, entries 35000/70000, part 15, resumes 1',
  );
  assert.equal(
    formatProgress({ ...progress, phase: 'plan', entriesTotal: 2000, bytesTotal: 5_500_000 }, 0),
    'plan: listed 2000 objects, 5.5 MB',
  );
});

test('the rate is measured over a sliding window and restarts when a resumed run reports fewer bytes', () => {
  const meter = new RateMeter(10_000);
  assert.equal(meter.add(0, 0), 0);
  assert.equal(meter.add(50_000_000, 1000), 50_000_000);
  assert.equal(meter.add(100_000_000, 2000), 50_000_000);
  // 20 s later the first samples are out of the window: only the recent pace counts.
  meter.add(110_000_000, 22_000);
  assert.equal(meter.add(120_000_000, 23_000), 10_000_000);
  assert.equal(meter.add(80_000_000, 24_000), 0);
});
