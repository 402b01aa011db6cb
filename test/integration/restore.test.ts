import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  restoreWorkflowId,
  type RestoreRequest,
  type RestoreResult,
} from '../../src/shared/restore';
import { runArchive, s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import { getObject, keysUnder, openUploads, waitUntil } from '../support/archive';
import { CountingProxy } from '../support/countingProxy';
import { ensureTool } from '../../src/client/dev/tools';
import { temporalSettings } from '../../src/runtime/config';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const run = promisify(execFile);
const bin = path.resolve(__dirname, '../../bin/zipflow.js');
const MiB = 1024 * 1024;

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let bucket: { name: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>([
  ['logs/a.txt', Buffer.from('line a\n'.repeat(5000))],
  ['logs/b.json', Buffer.from(JSON.stringify({ b: 'x'.repeat(3000) }))],
  ['logs/empty.log', Buffer.alloc(0)],
  // Larger than one PutObject: inflated and streamed into a multipart upload.
  [
    'logs/big.txt',
    Buffer.from(Array.from({ length: 400_000 }, (_, i) => `row ${i} ${i * 7919}\n`).join('')),
  ],
  // Stored (already compressed by its extension) and over 5 MiB: copied by the store.
  ['media/video.gz', crypto.randomBytes(6 * MiB + 123)],
  ['media/photo.jpg', crypto.randomBytes(300 * 1024)],
  ['other/skip.txt', Buffer.from('not selected')],
]);
const archiveKey = 'archives/set.zip';

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'rsrc');
  bucket = await tempBucket(client, 'rdst');
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
  await runArchive({
    source: { bucket: source.name },
    destination: { bucket: bucket.name, key: archiveKey },
  });
});

after(async () => {
  await source.remove();
  await bucket.remove();
});

async function runRestore(request: RestoreRequest): Promise<RestoreResult> {
  const { client: temporal, close } = await temporalClient();
  try {
    return await withWorker({}, (taskQueue) =>
      temporal.workflow.execute('restore', {
        taskQueue,
        workflowId: restoreWorkflowId(request.destination),
        args: [request],
      }),
    );
  } finally {
    await close();
  }
}

async function restoreFailure(request: RestoreRequest): Promise<ApplicationFailure> {
  const err = await runRestore(request).then(
    () => assert.fail('the restore should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

async function assertRestored(prefix: string, names: string[], original: (name: string) => Buffer) {
  for (const name of names) {
    const body = await getObject(client, bucket.name, prefix + name);
    assert.ok(body.equals(original(name)), `${prefix + name} equals the original`);
  }
  assert.deepEqual(
    (await keysUnder(client, bucket.name, prefix)).sort(),
    names.map((n) => prefix + n).sort(),
  );
}

/** Writes a ZIP with Python's zipfile (another writer): DEFLATE and STORE entries. */
async function pythonZip(files: Map<string, { body: Buffer; stored: boolean }>): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyzip-'));
  try {
    const spec: [string, string, boolean][] = [];
    let i = 0;
    for (const [name, f] of files) {
      const file = path.join(dir, `f${i++}`);
      fs.writeFileSync(file, f.body);
      spec.push([name, file, f.stored]);
    }
    const out = path.join(dir, 'out.zip');
    const script = [
      'import json, sys, zipfile',
      'spec = json.loads(sys.argv[2])',
      "with zipfile.ZipFile(sys.argv[1], 'w') as z:",
      '    for name, file, stored in spec:',
      '        z.write(file, name, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)',
    ].join('\n');
    await run('python3', ['-c', script, out, JSON.stringify(spec)]);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('restore: a selection of a zipflow archive comes back byte for byte, with content type and mtime; the large STORE entry is copied by the store, not read by the worker', async (t) => {
  const prefix = 'restored/';
  const request: RestoreRequest = {
    archive: { bucket: bucket.name, key: archiveKey },
    select: { include: ['logs/**', 'media/*'] },
    destination: { bucket: bucket.name, prefix },
  };
  const { client: temporal, close } = await temporalClient();
  const wire = await CountingProxy.start(process.env.AWS_ENDPOINT_URL_S3!);
  const taskQueue = uniqueName('tq');
  const worker = startWorkerProcess(taskQueue, [], { env: { AWS_ENDPOINT_URL_S3: wire.endpoint } });
  let result: RestoreResult;
  try {
    result = await temporal.workflow.execute('restore', {
      taskQueue,
      workflowId: restoreWorkflowId(request.destination),
      args: [request],
    });
  } finally {
    await killHard(worker);
    await close();
    await wire.close();
  }
  const names = [...objects.keys()].filter((k) => !k.startsWith('other/'));
  await assertRestored(prefix, names, (n) => objects.get(n)!);
  const video = objects.get('media/video.gz')!;
  const total = names.reduce((n, k) => n + objects.get(k)!.length, 0);
  assert.equal(result.entries, names.length);
  assert.equal(result.bytes, total);
  assert.equal(result.copiedEntries, 1);
  assert.equal(result.copiedBytes, video.length);
  assert.equal(result.manifestChecked, true);
  t.diagnostic(`worker read ${wire.bytes.read} / sent ${wire.bytes.sent} bytes of ${total}`);
  // The worker read the archive's other entries and sent them, never the copied one's bytes.
  const streamed = total - video.length;
  assert.ok(wire.bytes.read < streamed + MiB, `read ${wire.bytes.read}, streamed ${streamed}`);
  assert.ok(wire.bytes.sent < streamed + MiB, `sent ${wire.bytes.sent}, streamed ${streamed}`);
  const head = await client.send(
    new HeadObjectCommand({ Bucket: bucket.name, Key: `${prefix}logs/b.json` }),
  );
  assert.equal(head.ContentType, 'application/json');
  const listed = await client.send(
    new HeadObjectCommand({ Bucket: source.name, Key: 'logs/b.json' }),
  );
  assert.equal(
    Math.floor(Date.parse(head.Metadata!['zipflow-mtime']) / 1000),
    Math.floor(listed.LastModified!.getTime() / 1000),
    'the entry mtime (whole seconds) is the source object LastModified',
  );
  assert.deepEqual(await openUploads(client, bucket.name), []);
});

test('restore: an archive written by Python zipfile (no manifest), every entry, through the CLI', async () => {
  const files = new Map([
    ['docs/readme.md', { body: Buffer.from('# readme\n'.repeat(1000)), stored: false }],
    ['docs/ünïcödé.txt', { body: Buffer.from('unicode name'), stored: false }],
    ['data/blob.bin', { body: crypto.randomBytes(5 * MiB + 17), stored: true }],
    ['data/large.csv', { body: Buffer.from('a,b,c\n'.repeat(2_000_000)), stored: false }],
  ]);
  const key = `${uniqueName('py')}.zip`;
  await client.send(
    new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: await pythonZip(files) }),
  );
  const prefix = `${uniqueName('py')}/`;
  const out = await withWorker({}, (taskQueue) =>
    run(
      process.execPath,
      [
        bin,
        'restore',
        `s3://${bucket.name}/${key}`,
        `s3://${bucket.name}/${prefix}`,
        '--wait',
        '--json',
      ],
      { env: { ...process.env, ZIPFLOW_TASK_QUEUE: taskQueue } },
    ),
  );
  const result = JSON.parse(out.stdout) as RestoreResult;
  await assertRestored(prefix, [...files.keys()], (n) => files.get(n)!.body);
  assert.equal(result.entries, files.size);
  assert.equal(result.copiedEntries, 1, 'the stored 5 MiB entry is copied by the store');
  assert.equal(result.manifestChecked, false);
  const head = await client.send(
    new HeadObjectCommand({ Bucket: bucket.name, Key: `${prefix}data/large.csv` }),
  );
  assert.equal(head.ContentType, 'text/csv');
  assert.deepEqual(await openUploads(client, bucket.name), []);
});

test('restore refuses to overwrite: an existing object fails the run with DestinationExists before anything is written', async () => {
  const prefix = `${uniqueName('exists')}/`;
  await client.send(
    new PutObjectCommand({ Bucket: bucket.name, Key: `${prefix}logs/b.json`, Body: 'mine' }),
  );
  const failure = await restoreFailure({
    archive: { bucket: bucket.name, key: archiveKey },
    select: { names: ['logs/a.txt', 'logs/b.json'] },
    destination: { bucket: bucket.name, prefix },
  });
  assert.equal(failure.type, 'DestinationExists');
  assert.match(failure.message, /destination\.overwrite/);
  assert.equal((await getObject(client, bucket.name, `${prefix}logs/b.json`)).toString(), 'mine');
  assert.deepEqual(await keysUnder(client, bucket.name, prefix), [`${prefix}logs/b.json`]);
  // With overwrite, the same restore replaces it.
  const result = await runRestore({
    archive: { bucket: bucket.name, key: archiveKey },
    select: { names: ['logs/a.txt', 'logs/b.json'] },
    destination: { bucket: bucket.name, prefix, overwrite: true },
  });
  assert.equal(result.entries, 2);
  await assertRestored(prefix, ['logs/a.txt', 'logs/b.json'], (n) => objects.get(n)!);
});

test('restore leaves nothing when an entry does not match its CRC-32: small, streamed and server-side copied entries', async () => {
  const files = new Map([
    ['small.txt', { body: Buffer.from('small entry '.repeat(100)), stored: true }],
    ['streamed.txt', { body: Buffer.from('streamed entry\n'.repeat(1_000_000)), stored: false }],
    ['copied.bin', { body: crypto.randomBytes(6 * MiB), stored: true }],
  ]);
  const zip = await pythonZip(files);
  // Corrupt the data of each entry in turn (a byte in its middle; DEFLATE's last byte) and
  // restore it alone: the run fails and nothing is left at the key.
  for (const name of files.keys()) {
    const bad = Buffer.from(zip);
    const at = bad.indexOf(Buffer.from(name)) + name.length; // after the local header's name
    const size = files.get(name)!.body.length;
    bad[name === 'streamed.txt' ? at + 1000 : at + Math.floor(size / 2)] ^= 0xff;
    const key = `${uniqueName('bad')}.zip`;
    await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: bad }));
    const prefix = `${uniqueName('bad')}/`;
    const failure = await restoreFailure({
      archive: { bucket: bucket.name, key },
      select: { names: [name] },
      destination: { bucket: bucket.name, prefix },
    });
    assert.ok(failure.type === 'ChecksumMismatch', `${name}: ${failure.type}: ${failure.message}`);
    assert.match(failure.message, new RegExp(name.replace('.', '\\.')));
    assert.deepEqual(await keysUnder(client, bucket.name, prefix), [], `${name}: nothing written`);
    assert.deepEqual(await openUploads(client, bucket.name), [], `${name}: no upload left`);
  }
});

test('restore: bad input names the field', async () => {
  const failure = await restoreFailure({
    archive: { bucket: bucket.name, key: archiveKey },
    select: { names: ['logs/nope.txt'] },
    destination: { bucket: bucket.name, prefix: 'x/' },
  });
  assert.equal(failure.type, 'EntryNotFound');
  assert.match(failure.message, /^select\.names: "logs\/nope\.txt"/);
  const missing = await restoreFailure({
    archive: { bucket: bucket.name, key: 'no/such.zip' },
    destination: { bucket: bucket.name, prefix: 'x/' },
  });
  assert.equal(missing.type, 'ArchiveNotFound');
  assert.match(missing.message, /^archive\.key: /);
  // Checked by the workflow before any activity runs.
  const noBucket = await restoreFailure({
    archive: { bucket: bucket.name, key: archiveKey },
    destination: { bucket: '', prefix: 'x/' },
  });
  assert.equal(noBucket.type, 'InvalidRequest');
  assert.match(noBucket.message, /^destination\.bucket: /);
  assert.deepEqual(noBucket.details, [{ field: 'destination.bucket' }]);
  // Checked by the worker, which compiles the patterns: the same failure, naming the pattern.
  const badPattern = await restoreFailure({
    archive: { bucket: bucket.name, key: archiveKey },
    select: { include: ['logs/*', 'logs/[a-'] },
    destination: { bucket: bucket.name, prefix: 'x/' },
  });
  assert.equal(badPattern.type, 'InvalidRequest');
  assert.match(badPattern.message, /^select\.include\[1\]: "logs\/\[a-" is not a glob/);
  assert.deepEqual(badPattern.details, [{ field: 'select.include[1]' }]);
});

test('restore started by type name with plain JSON input (as the Web UI and "temporal workflow start" do)', async () => {
  const prefix = `${uniqueName('cli')}/`;
  const request: RestoreRequest = {
    archive: { bucket: bucket.name, key: archiveKey },
    select: { names: ['media/photo.jpg'] },
    destination: { bucket: bucket.name, prefix },
  };
  const temporalBin = await ensureTool('temporal');
  const settings = temporalSettings();
  const workflowId = restoreWorkflowId(request.destination);
  const { client: temporal, close } = await temporalClient();
  try {
    await withWorker({}, async (taskQueue) => {
      await run(temporalBin, [
        'workflow',
        'start',
        '--type',
        'restore',
        '--task-queue',
        taskQueue,
        '--workflow-id',
        workflowId,
        '--input',
        JSON.stringify(request),
        '--address',
        settings.address,
        '--namespace',
        settings.namespace,
      ]);
      const result = (await temporal.workflow.getHandle(workflowId).result()) as RestoreResult;
      assert.equal(result.entries, 1);
    });
  } finally {
    await close();
  }
  await assertRestored(prefix, ['media/photo.jpg'], (n) => objects.get(n)!);
});

test('restore survives a worker killed mid-run: every entry restored once, identical, nothing half-written', async (t) => {
  // 1,200 entries: three plan chunks, so the kill lands with work done and work left.
  const files = new Map(
    Array.from({ length: 1200 }, (_, i): [string, { body: Buffer; stored: boolean }] => [
      `many/${String(i).padStart(4, '0')}.txt`,
      { body: Buffer.from(`entry ${i}\n`.repeat(1 + (i % 50))), stored: i % 2 === 0 },
    ]),
  );
  const key = `${uniqueName('many')}.zip`;
  await client.send(
    new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: await pythonZip(files) }),
  );
  const prefix = `${uniqueName('many')}/`;
  const request: RestoreRequest = {
    archive: { bucket: bucket.name, key },
    destination: { bucket: bucket.name, prefix },
  };
  const { client: temporal, close } = await temporalClient();
  t.after(close);
  const taskQueue = uniqueName('tq');
  let worker = startWorkerProcess(taskQueue);
  try {
    const handle = await temporal.workflow.start('restore', {
      taskQueue,
      workflowId: restoreWorkflowId(request.destination),
      args: [request],
    });
    await waitUntil(
      'some entries are restored',
      async () => (await keysUnder(client, bucket.name, prefix)).length >= 100,
      180_000,
    );
    await killHard(worker);
    const atKill = (await keysUnder(client, bucket.name, prefix)).length;
    t.diagnostic(`killed with ${atKill} of ${files.size} entries restored`);
    assert.ok(atKill < files.size, 'killed before the restore finished');
    worker = startWorkerProcess(taskQueue);
    const result = (await handle.result()) as RestoreResult;
    assert.equal(result.entries, files.size);
    assert.equal(
      result.bytes,
      [...files.values()].reduce((n, f) => n + f.body.length, 0),
    );
  } finally {
    await killHard(worker);
  }
  // Every entry once and byte for byte (keysUnder lists 1,000 keys a page: check by name).
  for (const [name, f] of files) {
    assert.ok((await getObject(client, bucket.name, prefix + name)).equals(f.body), name);
  }
  assert.deepEqual(await openUploads(client, bucket.name), []);
});
