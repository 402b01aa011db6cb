import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as activities from '../../src/activities';
import { archiveWorkflowId, type ArchiveRequest } from '../../src/shared/request';
import type { VerificationReport } from '../../src/shared/verification';
import { ArchiveNotFoundError, verifyArchiveObject } from '../../src/engine/verify';
import { S3RangeReader } from '../../src/s3/rangeReader';
import { runArchive, s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import { getObject } from '../support/archive';

const run = promisify(execFile);
const bin = path.resolve(__dirname, '../../bin/zipflow.js');

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>([
  ['data/readme.txt', Buffer.from('hello zipflow\n'.repeat(2000))],
  ['data/nested/random.bin', crypto.randomBytes(1536 * 1024 + 7)],
  ['data/nested/empty.txt', Buffer.alloc(0)],
  ['data/ünïcödé/日本語.txt', Buffer.from('unicode names survive')],
  ...Array.from({ length: 20 }, (_, i): [string, Buffer] => [
    `data/small/${i}.txt`,
    Buffer.from(`small object ${i}\n`),
  ]),
]);

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'vsrc');
  destination = await tempBucket(client, 'vdst');
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

function request(key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix: 'data/' },
    destination: { bucket: destination.name, key },
    ...extra,
  };
}

/** Runs the CLI as a user would; resolves with its exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await run(process.execPath, [bin, ...args], { env: process.env });
    return { code: 0, ...out };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}

test('verify: true in the request gives a passing verification report in the result', async () => {
  const key = `${uniqueName('opt')}.zip`;
  const result = await runArchive(request(key, { verify: true }));
  assert.ok(result.verification, 'the result carries the verification report');
  assert.deepEqual(result.verification, {
    bucket: destination.name,
    key,
    ok: true,
    entries: objects.size,
    bytes: result.size,
    sha256: { expected: result.sha256, actual: result.sha256 },
    problems: [],
    problemCount: 0,
  });
});

test('an intact archive verifies: every entry, the manifest and the SHA-256 match; the CLI exits 0', async () => {
  const key = `${uniqueName('ok')}.zip`;
  const result = await runArchive(request(key));
  assert.equal(result.verification, undefined, 'no verification unless the request asks');
  const seen: number[] = [];
  const report = await verifyArchiveObject(
    client,
    { bucket: destination.name, key },
    { onProgress: (p) => seen.push(p.entriesChecked) },
  );
  assert.equal(report.ok, true, report.problems.join('\n'));
  assert.equal(report.entries, objects.size);
  assert.equal(report.bytes, result.size);
  assert.equal(report.sha256.actual, result.sha256);
  assert.equal(report.sha256.expected, result.sha256);
  assert.equal(Math.max(...seen), objects.size, 'progress counts every entry');

  const out = await cli(['verify', `s3://${destination.name}/${key}`]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`^ok: .*${objects.size} entries.*${result.sha256}`));
  const json = await cli(['verify', '--json', `s3://${destination.name}/${key}`]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), report);
});

test('the range reader serves small reads from cached blocks: one GET for many records', async () => {
  const key = `${uniqueName('blocks')}.zip`;
  const result = await runArchive(request(key, { compression: { method: 'store' } }));
  const zip = await getObject(client, destination.name, key);
  const reader = new S3RangeReader(
    client,
    { bucket: destination.name, key, size: result.size },
    64 * 1024,
  );
  // The central directory and end records: all in the last block(s).
  const tail = Math.min(zip.length, 4096);
  for (let at = zip.length - tail; at < zip.length; at += 100) {
    const end = Math.min(zip.length, at + 100);
    assert.deepEqual(await reader.readRange(at, end), zip.subarray(at, end));
  }
  assert.ok(reader.requests <= 2, `${reader.requests} GETs for 41 small reads`);
  // A range across a block boundary joins two blocks.
  assert.deepEqual(await reader.readRange(65_000, 70_000), zip.subarray(65_000, 70_000));
});

/**
 * Flips a byte inside the data of entry `name` and puts the archive back as zipflow left it
 * (same key, same checksum tags); returns the CRC-32 of the corrupted data and the new SHA-256.
 */
async function corruptEntry(
  key: string,
  name: string,
  recorded: { sha256?: string; crc32: string; manifestKey: string },
): Promise<{ crc32: string; recordedCrc32: string; sha256: string }> {
  const zip = await getObject(client, destination.name, key);
  const manifest = (await getObject(client, destination.name, recorded.manifestKey))
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { name: string; size: number; crc32: string; offset: number });
  const target = manifest.find((m) => m.name === name)!;
  // APPNOTE 4.3.7: data starts after the 30-byte local header, its name and extra field.
  const dataStart =
    target.offset +
    30 +
    zip.readUInt16LE(target.offset + 26) +
    zip.readUInt16LE(target.offset + 28);
  const corrupt = Buffer.from(zip);
  corrupt[dataStart + Math.floor(target.size / 2)] ^= 0xff;
  await client.send(
    new PutObjectCommand({
      Bucket: destination.name,
      Key: key,
      Body: corrupt,
      Tagging: `zipflow-sha256=${recorded.sha256 ?? ''}&zipflow-crc32=${recorded.crc32}`,
    }),
  );
  return {
    crc32: zlib
      .crc32(corrupt.subarray(dataStart, dataStart + target.size))
      .toString(16)
      .padStart(8, '0'),
    recordedCrc32: target.crc32,
    sha256: crypto.createHash('sha256').update(corrupt).digest('hex'),
  };
}

test('a flipped byte in one entry is reported as its CRC-32 mismatch and a SHA-256 mismatch, by the library and the CLI (exit 4)', async () => {
  const key = `${uniqueName('bad')}.zip`;
  const result = await runArchive(request(key, { compression: { method: 'store' } }));
  const corrupted = await corruptEntry(key, 'readme.txt', result);
  const actualSha256 = corrupted.sha256;
  const crcProblem = `entry "readme.txt": CRC-32 0x${corrupted.crc32} in archive data, 0x${corrupted.recordedCrc32} in central directory`;
  const shaProblem = `archive: SHA-256 ${actualSha256} of its bytes, ${result.sha256} recorded`;

  const report = await verifyArchiveObject(client, { bucket: destination.name, key });
  assert.equal(report.ok, false);
  assert.equal(report.entries, objects.size, 'the other entries are still checked');
  assert.deepEqual(report.sha256, { expected: result.sha256, actual: actualSha256 });
  assert.ok(report.problems.includes(crcProblem), report.problems.join('\n'));
  assert.ok(report.problems.includes(shaProblem), report.problems.join('\n'));
  assert.equal(report.problemCount, report.problems.length);
  assert.ok(
    report.problems.every((p) => p.includes('readme.txt') || p.startsWith('archive: ')),
    `only the corrupted entry and the whole-archive checksums disagree:\n${report.problems.join('\n')}`,
  );

  const limited = await verifyArchiveObject(
    client,
    { bucket: destination.name, key },
    { maxProblems: 1 },
  );
  assert.equal(limited.problems.length, 1);
  assert.equal(limited.problemCount, report.problemCount, 'problems past the limit are counted');

  const out = await cli(['verify', `s3://${destination.name}/${key}`]);
  assert.equal(out.code, 4, out.stderr);
  assert.match(out.stdout, /^mismatch: /);
  for (const problem of report.problems) assert.ok(out.stdout.includes(`  ${problem}\n`), problem);
});

test('verifying a missing object is an error, not a mismatch: ArchiveNotFoundError, CLI exit 3', async () => {
  const key = `${uniqueName('missing')}.zip`;
  await assert.rejects(
    verifyArchiveObject(client, { bucket: destination.name, key }),
    ArchiveNotFoundError,
  );
  const out = await cli(['verify', `s3://${destination.name}/${key}`]);
  assert.equal(out.code, 3);
  assert.match(out.stderr, /no such object/);
  assert.equal(out.stdout, '');
});

test('verify: true fails the run with VerificationFailed when the archive read back does not match, and leaves it in place', async () => {
  const key = `${uniqueName('wfbad')}.zip`;
  const req = request(key, { compression: { method: 'store' }, verify: true });
  // The real activities, except that the archive is damaged just before it is read back.
  const damaging = {
    ...activities,
    async verifyArchive(input: activities.VerifyInput): Promise<VerificationReport> {
      const tags = await client.send(
        new GetObjectTaggingCommand({ Bucket: input.bucket, Key: input.key }),
      );
      const tag = (name: string) => tags.TagSet!.find((t) => t.Key === name)!.Value!;
      await corruptEntry(input.key, 'readme.txt', {
        sha256: tag('zipflow-sha256'),
        crc32: tag('zipflow-crc32'),
        manifestKey: `${input.key}.manifest.jsonl`,
      });
      return activities.verifyArchive(input);
    },
  };
  const { client: temporal, close } = await temporalClient();
  try {
    await assert.rejects(
      withWorker({ activities: damaging }, (taskQueue) =>
        temporal.workflow.execute('archive', {
          taskQueue,
          workflowId: archiveWorkflowId(req.destination),
          args: [req],
        }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
        assert.equal(err.cause.type, 'VerificationFailed');
        assert.equal(err.cause.nonRetryable, true);
        assert.match(err.cause.message, /left in place/);
        assert.match(
          err.cause.message,
          /entry "readme\.txt": CRC-32 0x[0-9a-f]{8} in archive data/,
        );
        const report = err.cause.details?.[0] as VerificationReport;
        assert.equal(report.ok, false);
        assert.equal(report.entries, objects.size);
        return true;
      },
    );
  } finally {
    await close();
  }
  const left = await client.send(new HeadObjectCommand({ Bucket: destination.name, Key: key }));
  assert.ok(left.ContentLength! > 0, 'the archive stays where it was written');
});
