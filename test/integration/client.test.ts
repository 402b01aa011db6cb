import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  archiveRunId,
  describeArchive,
  isNoNewObjects,
  listArchives,
  startArchive,
  waitForArchive,
  type ArchiveProgress,
  type ArchiveResult,
  withClient,
} from '../../src/client';
import { ENV } from '../../src/runtime/config';
import {
  getObject,
  openUploads,
  partsHeld,
  readZip,
  slowText,
  waitUntil,
} from '../support/archive';
import { s3, tempBucket, uniqueName, withWorker } from '../support/env';

const bin = path.resolve(__dirname, '../../bin/zipflow.js');

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const FILES: Record<string, string> = {
  'docs/a.txt': 'alpha\n',
  'docs/nested/b.txt': 'bravo '.repeat(10_000),
  'docs/ü/c.bin': 'charlie',
};

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (const [key, body] of Object.entries(FILES)) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
  // Slow DEFLATE data: `slow/` for the progress lines; `slower/` (~100 MB, ~10 s to deflate)
  // for the cancel case, so the run is still streaming when the CLI cancels it.
  for (let i = 0; i < 16; i++) {
    const body = slowText(i, 6 * 1024 * 1024);
    if (i < 4) {
      await client.send(
        new PutObjectCommand({ Bucket: source.name, Key: `slow/${i}.log`, Body: body }),
      );
    }
    await client.send(
      new PutObjectCommand({ Bucket: source.name, Key: `slower/${i}.log`, Body: body }),
    );
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the zipflow CLI as a user would, against the test stack and the given task queue. */
async function cli(taskQueue: string, ...args: string[]): Promise<CliRun> {
  const env = { ...process.env, [ENV.taskQueue]: taskQueue };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('typed client: start, live progress, result, describe and list a run', async () => {
  const key = `${uniqueName('client')}.zip`;
  await withWorker({}, (taskQueue) =>
    withClient({ taskQueue }, async (c) => {
      const handle = await startArchive(c, {
        source: { bucket: source.name, prefix: 'docs/' },
        destination: { bucket: destination.name, key },
      });
      assert.equal(handle.workflowId, archiveRunId(`s3://${destination.name}/${key}`));
      const seen: ArchiveProgress[] = [];
      const result = await waitForArchive(c, handle.workflowId, (p) => seen.push(p), 100);
      assert.ok(!isNoNewObjects(result));
      assert.equal(result.entries, 3);
      assert.ok(seen.length > 0, 'progress was reported while the run was open');
      for (const p of seen) {
        assert.ok(['plan', 'stream', 'done'].includes(p.phase), `phase ${p.phase}`);
        assert.ok(p.bytesDone <= p.bytesTotal && p.entriesDone <= p.entriesTotal);
      }
      const entries = await readZip(await getObject(client, destination.name, key));
      assert.deepEqual([...entries.keys()].sort(), ['a.txt', 'nested/b.txt', 'ü/c.bin']);

      const status = await describeArchive(c, `s3://${destination.name}/${key}`);
      assert.equal(status.status, 'COMPLETED');
      assert.equal(status.destination, `s3://${destination.name}/${key}`);
      assert.equal(status.progress, undefined);

      const query = `ZipflowDestination = 's3://${destination.name}/${key}'`;
      await waitUntil(
        'the run is visible',
        async () => (await listArchives(c, { query })).length === 1,
      );
      const [listed] = await listArchives(c, { query });
      assert.equal(listed.workflowId, handle.workflowId);
      assert.equal(listed.status, 'COMPLETED');
      assert.equal(listed.phase, 'done');
      assert.equal(listed.entries, 3);
      assert.equal(listed.bytes, result.size);
    }),
  );
});

test('CLI: archive --wait prints progress and the result; status and result read it back; a second archive to the same key exits 5', async () => {
  const key = `${uniqueName('cli')}.zip`;
  const url = `s3://${destination.name}/${key}`;
  await withWorker({}, async (taskQueue) => {
    const run = await cli(
      taskQueue,
      'archive',
      `s3://${source.name}/docs/`,
      url,
      '--wait',
      '--json',
    );
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as ArchiveResult;
    assert.equal(result.entries, 3);
    assert.equal(result.key, key);
    assert.match(run.stderr, /^started zipflow:s3:\/\//m);

    const status = await cli(taskQueue, 'status', url, '--json');
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { status: string }).status, 'COMPLETED');

    const again = await cli(taskQueue, 'result', archiveRunId(url));
    assert.equal(again.code, 0, again.stderr);
    assert.ok(result.sha256 && again.stdout.includes(result.sha256), again.stdout);

    const twice = await cli(taskQueue, 'archive', `s3://${source.name}/docs/`, url, '--wait');
    assert.equal(twice.code, 5, twice.stderr);
    assert.match(twice.stderr, /archive failed \(DestinationExists\)/);
  });
});

test('CLI: archive --wait on a pipe prints plain progress lines', async () => {
  const key = `${uniqueName('plain')}.zip`;
  await withWorker({}, async (taskQueue) => {
    const run = await cli(
      taskQueue,
      'archive',
      `s3://${source.name}/slow/`,
      `s3://${destination.name}/${key}`,
      '--compression',
      'deflate',
      '--level',
      '9',
      '--wait',
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^stream: +\d+% [\d.]+ [kMG]?B of 25\.2 MB, .*\/s, ETA .*, entries \d\/4, part \d+/m,
    );
    assert.ok(!run.stderr.includes('\r'), 'no terminal control characters on a pipe');
    assert.match(run.stdout, new RegExp(`^s3://${destination.name}/${key}: \\d+ bytes, 4 entries`));
  });
});

test('CLI: cancel stops a running archive and leaves nothing; result then exits 6; unknown runs exit 3, bad URLs 2', async () => {
  const key = `${uniqueName('cancel')}.zip`;
  const url = `s3://${destination.name}/${key}`;
  await withWorker({}, async (taskQueue) => {
    const start = await cli(
      taskQueue,
      'archive',
      `s3://${source.name}/slower/`,
      url,
      '--compression',
      'deflate',
      '--level',
      '9',
      '--part-size',
      '5MiB',
      '--json',
    );
    assert.equal(start.code, 0, start.stderr);
    await waitUntil(
      'the first part is held',
      async () => (await partsHeld(client, destination.name, key)) >= 1,
    );

    const status = await cli(taskQueue, 'status', url, '--json');
    const live = JSON.parse(status.stdout) as { status: string; progress?: ArchiveProgress };
    assert.equal(live.status, 'RUNNING');
    assert.equal(live.progress?.phase, 'stream');
    assert.ok((live.progress?.partsDone ?? 0) >= 0);

    const cancel = await cli(taskQueue, 'cancel', url, '--wait', '--json');
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal((JSON.parse(cancel.stdout) as { status: string }).status, 'CANCELLED');
    assert.deepEqual(await openUploads(client, destination.name), []);

    const result = await cli(taskQueue, 'result', url);
    assert.equal(result.code, 6, result.stderr);
    assert.match(result.stderr, /cancelled/);
  });
  const missing = await cli('unused', 'status', 'zipflow:s3://nowhere/none.zip');
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /no archive run "zipflow:s3:\/\/nowhere\/none\.zip"/);
  const bad = await cli('unused', 'archive', 'bucket/prefix', 's3://b/k.zip');
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /source: "bucket\/prefix" is not an S3 URL/);
});
