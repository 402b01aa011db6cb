import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, s3Retries } from '../../src/s3/client';
import { directRequestCounts, getConnectionsOpened } from '../../src/s3/directRequests';
import { headObject } from '../../src/s3/objects';
import { SourceChangedError, type ObjectVersion } from '../../src/s3/objectReader';
import { BlockPool, RangeFetch } from '../../src/s3/rangeFetch';
import { CountingProxy } from '../support/countingProxy';
import { s3, tempBucket } from '../support/env';
import { makeTestPki, type TestPki } from '../support/tls';

// GetObject bodies read off the socket into the reader's blocks (src/s3/socketGet.ts), through
// a relay in front of the store that can close every connection at once, and through TLS.

const MiB = 1024 * 1024;
const body = crypto.randomBytes(3 * MiB + 77);
let setup: S3Client;
let bucket: { name: string; remove(): Promise<void> };
let proxy: CountingProxy;
let version: ObjectVersion;
const storeEndpoint = process.env.AWS_ENDPOINT_URL_S3!;

/** A client of the factory for `endpoint`, which has taught it the bucket's endpoint (a HEAD). */
async function clientFor(endpoint: string): Promise<S3Client> {
  const before = process.env.AWS_ENDPOINT_URL_S3;
  process.env.AWS_ENDPOINT_URL_S3 = endpoint;
  try {
    const client = await createS3Client();
    assert.ok(await headObject(client, bucket.name, 'data.bin'));
    return client;
  } finally {
    process.env.AWS_ENDPOINT_URL_S3 = before;
  }
}

/** Reads [from, to) with a RangeFetch; the bytes, and the memory they were handed out in. */
async function read(
  client: S3Client,
  from: number,
  to: number,
  pool?: BlockPool,
  object: ObjectVersion = version,
): Promise<{ bytes: Buffer; blocks: Set<ArrayBufferLike> }> {
  const range = new RangeFetch(client, object, from, to, undefined, pool);
  await range.done;
  const chunks: Buffer[] = [];
  const blocks = new Set<ArrayBufferLike>();
  try {
    for (let chunk = range.take(); chunk; chunk = range.take()) {
      chunks.push(Buffer.from(chunk));
      blocks.add(chunk.buffer);
    }
  } finally {
    range.release();
  }
  return { bytes: Buffer.concat(chunks), blocks };
}

/** Node 24's default CA store (newer than the type definitions the project builds with). */
const caStore = tls as typeof tls & {
  getCACertificates(type: 'default'): string[];
  setDefaultCACertificates(certs: string[]): void;
};

before(async () => {
  setup = await s3();
  bucket = await tempBucket(setup);
  await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'data.bin', Body: body }));
  const head = await headObject(setup, bucket.name, 'data.bin');
  assert.ok(head);
  version = { bucket: bucket.name, key: 'data.bin', size: head.size, etag: head.etag };
  proxy = await CountingProxy.start(storeEndpoint);
});

after(async () => {
  await proxy.close();
  await bucket.remove();
});

test('ranges are read off the socket into the pool’s blocks, one after another on one kept-alive connection', async () => {
  const client = await clientFor(proxy.endpoint);
  try {
    const pool = new BlockPool(256 * 1024);
    const blocks = new Set<ArrayBufferLike>();
    for (let from = 0; from < 3 * MiB; from += MiB) {
      const got = await read(client, from, from + MiB, pool);
      assert.ok(got.bytes.equals(body.subarray(from, from + MiB)), `bytes from ${from}`);
      for (const block of got.blocks) blocks.add(block);
    }
    assert.equal(pool.allocated, 4, 'a MiB at a time: four blocks of 256 KiB, filled again');
    assert.equal(blocks.size, 4, 'every byte was handed out in the pool’s blocks');
    // A range shorter than a block gets one block of its own size.
    const tail = await read(client, 3 * MiB, body.length, pool);
    assert.ok(tail.bytes.equals(body.subarray(3 * MiB)));
    assert.equal([...tail.blocks][0].byteLength >= 77, true);
    assert.equal(pool.allocated, 4);
    assert.equal(getConnectionsOpened(client), 1, 'four GETs, one connection');
    // The HEAD that taught the bucket's endpoint went through the SDK; every GET went direct.
    assert.deepEqual(directRequestCounts(client), { direct: 4, viaSdk: 0 });
  } finally {
    client.destroy();
  }
});

test('a kept-alive connection the store has closed is replaced: the GET succeeds on a new connection, counted as one retry', async () => {
  const client = await clientFor(proxy.endpoint);
  try {
    assert.ok((await read(client, 0, MiB)).bytes.equals(body.subarray(0, MiB)));
    assert.equal(getConnectionsOpened(client), 1);
    // Closed at the store's end; the client has not seen it yet when it sends the next GET.
    proxy.dropConnections();
    assert.ok((await read(client, MiB, 2 * MiB)).bytes.equals(body.subarray(MiB, 2 * MiB)));
    assert.equal(getConnectionsOpened(client), 2);
    // Sent twice, as the SDK sends a request again when its agent's kept socket is reset.
    assert.equal(s3Retries(client), 1);
    assert.deepEqual(directRequestCounts(client), { direct: 2, viaSdk: 0 });
  } finally {
    client.destroy();
  }
});

test('an answer other than success is left to the SDK: a deleted source fails as SourceChangedError', async () => {
  const client = await clientFor(proxy.endpoint);
  const gone = { ...version, key: 'gone.bin', size: 1000, etag: '"0123"' };
  await setup.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'gone.bin', Body: 'x' }));
  await setup.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: 'gone.bin' }));
  try {
    await assert.rejects(
      read(client, 0, 1000, undefined, gone),
      (err) => err instanceof SourceChangedError && err.reason === 'missing',
    );
    assert.equal(directRequestCounts(client).viaSdk, 1, 'the 404 was sent again by the SDK');
    // The connection that answered 404 was closed, not kept: the next GET opens another.
    assert.ok((await read(client, 0, 1000)).bytes.equals(body.subarray(0, 1000)));
    assert.equal(getConnectionsOpened(client), 2);
  } finally {
    client.destroy();
  }
});

test('an aborted read ends at once, and its connection is closed rather than kept mid-body', async () => {
  const client = await clientFor(storeEndpoint);
  try {
    const stop = new AbortController();
    const range = new RangeFetch(client, version, 0, body.length, stop.signal);
    await range.arrival();
    stop.abort();
    await range.done;
    assert.throws(
      () => {
        while (range.take());
      },
      (err: Error) => err.name === 'AbortError',
    );
    range.release();
    assert.ok((await read(client, 5, 500_005)).bytes.equals(body.subarray(5, 500_005)));
    assert.equal(getConnectionsOpened(client), 2);
  } finally {
    client.destroy();
  }
});

test('over TLS the bodies are read off the socket too, through the default CA store', async () => {
  const pki: TestPki = makeTestPki();
  const previous = caStore.getCACertificates('default');
  caStore.setDefaultCACertificates([...previous, fs.readFileSync(pki.caCert, 'utf8')]);
  const store = new URL(storeEndpoint);
  const front = tls.createServer(
    { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) },
    (socket) => {
      const upstream = net.connect(Number(store.port), store.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const { port } = front.address() as net.AddressInfo;
  const client = await clientFor(`https://localhost:${port}`);
  try {
    for (const [from, to] of [
      [0, 2 * MiB],
      [2 * MiB, body.length],
    ]) {
      assert.ok((await read(client, from, to)).bytes.equals(body.subarray(from, to)));
    }
    assert.equal(getConnectionsOpened(client), 1);
    assert.deepEqual(directRequestCounts(client), { direct: 2, viaSdk: 0 });
  } finally {
    client.destroy();
    caStore.setDefaultCACertificates(previous);
    await new Promise<void>((resolve) => front.close(() => resolve()));
    pki.remove();
  }
});
