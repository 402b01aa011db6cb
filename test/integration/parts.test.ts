import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { PartWriter } from '../../src/engine/write/parts';
import { crc32Base64, MultipartSession } from '../../src/s3/multipart';
import { s3, tempBucket } from '../support/env';

const PART = 5 * 1024 * 1024;
let client: S3Client;
let bucket: { name: string; remove(): Promise<void> };

before(async () => {
  client = await s3();
  bucket = await tempBucket(client);
});

after(async () => {
  await bucket.remove();
});

test('a resumed part writer skips parts S3 holds and counts as re-sent only parts begun before', async () => {
  const session = await MultipartSession.create(client, { bucket: bucket.name, key: 'parts.zip' });
  try {
    const data = crypto.randomBytes(5 * PART + 1000);
    const part = (n: number): Buffer => data.subarray((n - 1) * PART, n * PART);
    // An earlier attempt: parts 1 and 3 completed, part 2 was in flight when it died, and it
    // had begun part 4 as well (its heartbeat said so), which S3 never got.
    await session.uploadPart(1, part(1));
    await session.uploadPart(3, part(3));
    const held = new Map((await session.listParts()).map((p) => [p.partNumber, p]));
    const sent: number[] = [];
    const writer = new PartWriter(session, PART, 2, {
      position: PART, // resumed at the checkpoint after part 1
      partsDone: 1,
      held,
      startedBefore: 4,
      onPart: (n) => sent.push(n),
    });
    await writer.write(data.subarray(PART));
    await writer.finish();
    assert.deepEqual([...sent].sort(), [2, 3, 4, 5, 6]);
    // Parts 2 and 4 were begun before and sent again; 3 was held; 5 and 6 are new.
    assert.equal(writer.resentBytes, 2 * PART);
    assert.equal(writer.highestSent, 6);
    const final = await session.listParts();
    assert.deepEqual(
      final.map((p) => p.size),
      [PART, PART, PART, PART, PART, 1000],
    );
  } finally {
    await session.abort();
  }
});

test('a part writer fills at most concurrency + 1 part buffers, reused once S3 holds a part, and every part keeps its bytes', async () => {
  const session = await MultipartSession.create(client, { bucket: bucket.name, key: 'reuse.zip' });
  try {
    const concurrency = 2;
    const data = crypto.randomBytes(8 * PART + 1000);
    const buffers = new Set<ArrayBufferLike>();
    const upload = session.uploadPart.bind(session);
    session.uploadPart = (partNumber, body) => {
      buffers.add(body.buffer);
      return upload(partNumber, body);
    };
    const writer = new PartWriter(session, PART, concurrency);
    // In 64 KiB chunks, as bytes arrive from a source stream.
    for (let at = 0; at < data.length; at += 64 * 1024)
      await writer.write(data.subarray(at, at + 64 * 1024));
    await writer.finish();
    assert.ok(buffers.size <= concurrency + 1, `${buffers.size} part buffers`);
    const held = await session.listParts();
    assert.deepEqual(
      held.map((p) => p.checksumCRC32),
      held.map((p) =>
        crc32Base64(zlib.crc32(data.subarray((p.partNumber - 1) * PART, p.partNumber * PART))),
      ),
    );
    assert.equal(held.length, 9);
  } finally {
    await session.abort();
  }
});

test("a part's CRC-32 combined from its chunks' own (chunks cut at part boundaries too) is the one the store computes; a wrong one is refused", async () => {
  const session = await MultipartSession.create(client, { bucket: bucket.name, key: 'crcs.zip' });
  try {
    const data = crypto.randomBytes(2 * PART + 1000);
    const writer = new PartWriter(session, PART, 2);
    // Chunks of 1 MB that do not divide the part size, each with its own CRC-32, as the
    // encoder gives them for STORE data; every other one without, as headers go.
    const chunk = 1_000_000;
    for (let at = 0, i = 0; at < data.length; at += chunk, i++) {
      const piece = data.subarray(at, at + chunk);
      await writer.write(piece, i % 2 === 0 ? zlib.crc32(piece) : undefined);
    }
    await writer.finish();
    const held = await session.listParts();
    assert.deepEqual(
      held.map((p) => p.checksumCRC32),
      held.map((p) =>
        crc32Base64(zlib.crc32(data.subarray((p.partNumber - 1) * PART, p.partNumber * PART))),
      ),
    );
    // A CRC-32 that is not the bytes' never gets the part stored.
    const body = data.subarray(0, PART);
    await assert.rejects(session.uploadPart(4, body, (zlib.crc32(body) ^ 1) >>> 0), (err: Error) =>
      /checksum/i.test(`${err.name} ${err.message}`),
    );
  } finally {
    await session.abort();
  }
});

test('parts go with an unsigned payload, and the store still refuses a part whose bytes changed on the way', async () => {
  // A client of its own, to watch each UploadPart after it is signed (as its HTTP handler
  // gets it, sent direct or through the SDK) and, on request, flip one byte of its body there,
  // as a faulty network or proxy would.
  const watched = await s3();
  const seen: string[] = [];
  let corrupt = false;
  type Request = {
    method: string;
    query?: Record<string, unknown>;
    headers: Record<string, string>;
    body?: unknown;
  };
  const handler = watched.config.requestHandler as unknown as {
    handle(request: Request, options?: unknown): Promise<unknown>;
  };
  const handle = handler.handle.bind(handler);
  handler.handle = (request, options) => {
    if (request.method === 'PUT' && request.query?.partNumber !== undefined) {
      seen.push(request.headers['x-amz-content-sha256']);
      if (corrupt && Buffer.isBuffer(request.body)) {
        const body = Buffer.from(request.body);
        body[body.length >> 1] ^= 0xff;
        request.body = body;
      }
    }
    return handle(request, options);
  };
  for (const checksums of [true, false]) {
    const session = await MultipartSession.create(watched, {
      bucket: bucket.name,
      key: `unsigned-${checksums}.zip`,
      checksums,
    });
    try {
      const body = crypto.randomBytes(PART);
      corrupt = false;
      const part = await session.uploadPart(1, body);
      assert.equal(part.crc32, zlib.crc32(body));
      corrupt = true;
      await assert.rejects(session.uploadPart(2, body), (err: Error) => {
        // CRC-32 header (checksums) or Content-MD5 (no checksum algorithm), checked by the store
        assert.match(err.name, /BadDigest|Checksum|InvalidDigest/, `${err.name}: ${err.message}`);
        return true;
      });
      assert.deepEqual(
        (await session.listParts()).map((p) => p.partNumber),
        [1],
      );
    } finally {
      await session.abort();
    }
  }
  assert.deepEqual(new Set(seen), new Set(['UNSIGNED-PAYLOAD']));
});
