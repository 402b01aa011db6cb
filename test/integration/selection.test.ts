import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { type ArchiveRequest } from '../../src/shared/request';
import { planPage } from '../../src/activities';
import { readPlanChunk } from '../../src/engine/plan/plan';
import { deletePrefix, KeyListError, readKeyListPage } from '../../src/s3/objects';
import { runArchive, s3, tempBucket, uniqueName } from '../support/env';
import { getObject, keysUnder, openUploads, readZip } from '../support/archive';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
const objects = new Map<string, Buffer>([
  ['data/readme.txt', Buffer.from('read me\n'.repeat(100))],
  ['data/.env', Buffer.from('SECRET=not-really\n')],
  ['data/logs/app.log', Buffer.from('log line\n'.repeat(500))],
  ['data/logs/old/app-2020.log', Buffer.from('old log\n')],
  ['data/img/a.jpg', crypto.randomBytes(64 * 1024)],
  ['data/tmp/scratch.txt', Buffer.from('scratch')],
  ['data/ünï/日本.txt', Buffer.from('unicode names survive')],
  ['other/outside.txt', Buffer.from('outside the prefix')],
  ['dup/x/same.txt', Buffer.from('x')],
  ['dup/y/same.txt', Buffer.from('y')],
]);

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

function request(
  key: string,
  selection: Partial<ArchiveRequest['source']>,
  naming?: ArchiveRequest['naming'],
): ArchiveRequest {
  return {
    source: { bucket: source.name, prefix: 'data/', ...selection },
    destination: { bucket: destination.name, key },
    ...(naming ? { naming } : {}),
  };
}

/** The archive's entries in archive order, each with the bytes of the key it must hold. */
async function assertArchive(
  key: string,
  expected: [name: string, sourceKey: string][],
): Promise<void> {
  const entries = await readZip(await getObject(client, destination.name, key));
  assert.deepEqual(
    [...entries.keys()],
    expected.map(([name]) => name),
  );
  for (const [name, sourceKey] of expected) {
    assert.deepEqual(entries.get(name), objects.get(sourceKey), name);
  }
}

async function putKeyList(text: string): Promise<string> {
  const key = `${uniqueName('lists/keys')}.txt`;
  await client.send(new PutObjectCommand({ Bucket: destination.name, Key: key, Body: text }));
  return key;
}

async function assertFailsWith(
  request: ArchiveRequest,
  type: string,
  message: RegExp,
): Promise<void> {
  await assert.rejects(runArchive(request), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, type);
    assert.match(err.cause.message, message);
    return true;
  });
  assert.deepEqual(await keysUnder(client, destination.name, request.destination.key), []);
  assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), []);
  assert.deepEqual(await openUploads(client, destination.name), []);
}

test('include/exclude with flatten and naming.prefix: only the selected objects, named by their last segment inside the folder', async () => {
  const key = `${uniqueName('flat')}.zip`;
  const result = await runArchive(
    request(
      key,
      { include: ['**/*.log', '**/*.txt', '.env'], exclude: ['tmp/**', '**/old/**'] },
      { mode: 'flatten', prefix: 'backup-2026/' },
    ),
  );
  assert.equal(result.entries, 4);
  // Plan order is listing order: ListObjectsV2 returns keys in UTF-8 binary order.
  await assertArchive(key, [
    ['backup-2026/.env', 'data/.env'],
    ['backup-2026/app.log', 'data/logs/app.log'],
    ['backup-2026/readme.txt', 'data/readme.txt'],
    ['backup-2026/日本.txt', 'data/ünï/日本.txt'],
  ]);
});

test('source.keys archives exactly those keys in the given order, named relative to the prefix (a key outside it keeps its full key)', async () => {
  const key = `${uniqueName('keys')}.zip`;
  const result = await runArchive(
    request(key, { keys: ['data/img/a.jpg', 'other/outside.txt', 'data/logs/app.log'] }),
  );
  assert.equal(result.entries, 3);
  await assertArchive(key, [
    ['img/a.jpg', 'data/img/a.jpg'],
    ['other/outside.txt', 'other/outside.txt'],
    ['logs/app.log', 'data/logs/app.log'],
  ]);
});

test('source.keyList reads one key per line from an object in another bucket (CRLF and blank lines allowed), and exclude still applies', async () => {
  const key = `${uniqueName('list')}.zip`;
  const list = await putKeyList(
    'data/readme.txt\r\n\r\ndata/img/a.jpg\n\n   \ndata/ünï/日本.txt\ndata/tmp/scratch.txt',
  );
  const result = await runArchive(
    request(key, { keyList: { bucket: destination.name, key: list }, exclude: ['tmp/**'] }),
  );
  assert.equal(result.entries, 3);
  await assertArchive(key, [
    ['readme.txt', 'data/readme.txt'],
    ['img/a.jpg', 'data/img/a.jpg'],
    ['ünï/日本.txt', 'data/ünï/日本.txt'],
  ]);
});

test('a key list is read page by page from byte offsets without splitting a key, and a list replaced between pages is an error', async () => {
  const keys = ['a', 'ünï/日本.txt', 'b/c', 'd', 'e'];
  const list = await putKeyList(`${keys[0]}\r\n\n${keys.slice(1).join('\n')}\n\n`);
  const location = { bucket: destination.name, key: list };
  const read: string[] = [];
  let page = await readKeyListPage(client, location, 0, { maxKeys: 2 });
  read.push(...page.keys);
  while (page.nextOffset !== undefined) {
    assert.equal(page.keys.length, 2);
    page = await readKeyListPage(client, location, page.nextOffset, {
      maxKeys: 2,
      etag: page.etag,
    });
    read.push(...page.keys);
  }
  assert.deepEqual(read, keys);

  const first = await readKeyListPage(client, location, 0, { maxKeys: 2 });
  await putKeyList('unrelated'); // another object: the list itself is unchanged
  await client.send(new PutObjectCommand({ Bucket: destination.name, Key: list, Body: 'x\ny\n' }));
  await assert.rejects(
    readKeyListPage(client, location, first.nextOffset!, { maxKeys: 2, etag: first.etag }),
    (err: unknown) => err instanceof KeyListError && err.reason === 'changed',
  );
});

test('planPage continues a key list from its "<offset>:<ETag>" token and writes each object with its entry name', async () => {
  const list = await putKeyList('data/readme.txt\ndata/img/a.jpg\ndata/ünï/日本.txt\n');
  const { etag } = await readKeyListPage(client, { bucket: destination.name, key: list }, 0);
  const statePrefix = `.zipflow/state/${uniqueName('plan')}/`;
  // Called as the worker calls it: inside an activity context.
  const page = await new MockActivityEnvironment().run(planPage, {
    request: request(
      `${uniqueName('plan')}.zip`,
      { keyList: { bucket: destination.name, key: list } },
      { prefix: 'b/' },
    ),
    statePrefix,
    chunk: 0,
    continuationToken: `${'data/readme.txt\n'.length}:${etag}`,
  });
  const names = ['b/img/a.jpg', 'b/ünï/日本.txt'];
  assert.deepEqual(page, {
    entries: 2,
    bytes: objects.get('data/img/a.jpg')!.length + objects.get('data/ünï/日本.txt')!.length,
    nameBytes: names.reduce((n, name) => n + Buffer.byteLength(name), 0),
    nextContinuationToken: undefined,
    retries: 0,
  });
  const planned = await readPlanChunk(client, destination.name, statePrefix, 0);
  assert.deepEqual(
    planned.map((o) => [o.key, o.name, o.size]),
    [
      ['data/img/a.jpg', names[0], objects.get('data/img/a.jpg')!.length],
      ['data/ünï/日本.txt', names[1], objects.get('data/ünï/日本.txt')!.length],
    ],
  );
  assert.ok(planned.every((o) => o.etag !== '' && o.lastModified > 0));
  await deletePrefix(client, destination.name, statePrefix);
});

test('a requested key that does not exist fails the run with SourceMissing naming the key, and leaves nothing behind', async () => {
  const key = `${uniqueName('missing')}.zip`;
  await assertFailsWith(
    request(key, { keys: ['data/readme.txt', 'data/no-such-key.txt'] }),
    'SourceMissing',
    /data\/no-such-key\.txt does not exist/,
  );
});

test('a key list that does not exist fails the run with SourceMissing naming the list', async () => {
  const key = `${uniqueName('nolist')}.zip`;
  await assertFailsWith(
    request(key, { keyList: { key: 'lists/none.txt' } }),
    'SourceMissing',
    /key list s3:\/\/.*\/lists\/none\.txt does not exist/,
  );
});

test('two objects that flatten to the same name fail the run with DuplicateEntryName naming both keys', async () => {
  const key = `${uniqueName('dup')}.zip`;
  await assertFailsWith(
    request(key, { prefix: 'dup/' }, { mode: 'flatten' }),
    'DuplicateEntryName',
    /"same\.txt" would come from both dup\/x\/same\.txt and dup\/y\/same\.txt/,
  );
});

test('a glob that does not parse fails the run with InvalidRequest naming the pattern', async () => {
  const key = `${uniqueName('badglob')}.zip`;
  await assertFailsWith(
    request(key, { include: ['**/*.txt', 'img/['] }),
    'InvalidRequest',
    /^source\.include\[1\]: /,
  );
});
