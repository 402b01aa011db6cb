import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ensureTool } from '../../src/client/dev/tools';
import { SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { temporalSettings } from '../../src/runtime/config';
import { deletePrefix } from '../../src/s3/objects';
import { archiveWorkflowId, type ArchiveRequest } from '../../src/shared/request';
import { s3, temporalClient, withWorker } from '../support/env';
import { getObject, readZip } from '../support/archive';

const run = promisify(execFile);
const examplePath = path.resolve(__dirname, '../../docs/examples/request.json');

async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
  }
}

test('the example request of docs/web-ui.md, started with "temporal workflow start", produces the archive', async () => {
  // Exactly the JSON docs/web-ui.md shows (test/unit/readmeExample.test.ts keeps them equal).
  const json = fs.readFileSync(examplePath, 'utf8').trim();
  const request = JSON.parse(json) as ArchiveRequest;
  const { source, destination } = request;
  const client = await s3();
  await ensureBucket(client, source.bucket);
  await ensureBucket(client, destination.bucket);
  const objects = new Map([
    [`${source.prefix}summary.csv`, Buffer.from('region,total\nnorth,12\nsouth,7\n')],
    [`${source.prefix}charts/sales.txt`, Buffer.from('sales '.repeat(5000))],
  ]);
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.bucket, Key: key, Body: body }));
  }
  const temporal = await ensureTool('temporal');
  const settings = temporalSettings();
  const workflowId = archiveWorkflowId(destination);
  // The summary docs/web-ui.md passes, in the form startArchive gives its runs.
  const summary = `s3://${source.bucket}/${source.prefix} → s3://${destination.bucket}/${destination.key}`;
  const { client: temporalApi, close } = await temporalClient();
  try {
    await withWorker({}, async (taskQueue) => {
      const started = await run(temporal, [
        'workflow',
        'start',
        '--type',
        'archive',
        '--task-queue',
        taskQueue,
        '--workflow-id',
        workflowId,
        '--static-summary',
        summary,
        '--input',
        json,
        '--address',
        settings.address,
        '--namespace',
        settings.namespace,
      ]);
      assert.match(started.stdout, /Running execution/);
      const handle = temporalApi.workflow.getHandle(workflowId);
      const result = await handle.result();
      assert.equal(await (await handle.describe()).staticSummary(), summary);
      assert.equal(result.entries, objects.size);
      const zip = await getObject(client, destination.bucket, destination.key);
      assert.equal(zip.length, result.size);
      const entries = await readZip(zip);
      for (const [key, body] of objects) {
        assert.deepEqual(entries.get(key.slice(source.prefix!.length)), body, key);
      }
    });
  } finally {
    await close();
    await deletePrefix(client, source.bucket, source.prefix!);
    await deletePrefix(client, destination.bucket, destination.key);
  }
});

test('the "search-attribute create" commands of docs/web-ui.md register every zipflow search attribute with its type', async () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../docs/web-ui.md'), 'utf8');
  const commands = [
    ...readme.matchAll(/^\s*temporal operator search-attribute create((?:.*\\\n)*.*)$/gm),
  ].map((m) => m[1].replace(/\\\n/g, ' ').trim().split(/\s+/));
  assert.ok(commands.length > 0, 'docs/web-ui.md shows the commands');
  const temporal = await ensureTool('temporal');
  const { address } = temporalSettings();
  // A namespace of its own, so the commands run as on a cluster that has none of them yet.
  const namespace = `sa-${Date.now().toString(36)}`;
  await run(temporal, [
    'operator',
    'namespace',
    'create',
    '--namespace',
    namespace,
    '--address',
    address,
  ]);
  for (const args of commands) {
    const line = args.map((a) => (a === 'NS' ? namespace : a));
    await run(temporal, ['operator', 'search-attribute', 'create', ...line, '--address', address]);
  }
  const listed = await run(temporal, [
    'operator',
    'search-attribute',
    'list',
    '--namespace',
    namespace,
    '--address',
    address,
    '--output',
    'json',
  ]);
  const registered = JSON.parse(listed.stdout) as { customAttributes?: Record<string, string> };
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    assert.match(registered.customAttributes?.[name] ?? '', new RegExp(type, 'i'), name);
  }
});
