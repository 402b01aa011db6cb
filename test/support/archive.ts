import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import yauzl from 'yauzl';
import type { temporal } from '@temporalio/proto';
import { STREAM_PROGRESS_SIGNAL, type StreamProgress } from '../../src/shared/progress';

export async function getObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Every entry of a ZIP with its bytes, read by yauzl (an independent reader, CRCs checked). */
export function readZip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true }, (err, file) => {
      if (err || !file) return reject(err);
      const entries = new Map<string, Buffer>();
      file.on('error', reject);
      file.on('end', () => resolve(entries));
      file.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) {
          entries.set(entry.fileName, Buffer.alloc(0));
          return file.readEntry();
        }
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            file.readEntry();
          });
        });
      });
      file.readEntry();
    });
  });
}

export async function openUploads(client: S3Client, bucket: string): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (out.Uploads ?? []).map((u) => u.Key!);
}

export async function keysUnder(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** Log-like text that deflates slowly at level 9, so a stream runs long enough to act on. */
export function slowText(seed: number, bytes: number): Buffer {
  const words = ['GET', 'PUT', '/api/items', 'user', 'ok', 'latency', 'region', 'zone', 'trace'];
  let out = '';
  for (let i = 0; out.length < bytes; i++) {
    out += `${seed}:${i} ${words[(seed + i * 7) % words.length]} ${(i * 2654435761) % 1000003} ${crypto.randomBytes(6).toString('hex')}\n`;
  }
  return Buffer.from(out.slice(0, bytes));
}

/** Parts S3 holds for the open multipart upload of `key` (0 when none is open). */
export async function partsHeld(client: S3Client, bucket: string, key: string): Promise<number> {
  const uploads = await client.send(
    new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }),
  );
  const upload = uploads.Uploads?.find((u) => u.Key === key);
  if (!upload) return 0;
  const parts = await client.send(
    new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
  );
  return parts.Parts?.length ?? 0;
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `zip` equals `expected` byte for byte; a mismatch names the first differing byte and part. */
export function assertSameBytes(zip: Buffer, expected: Buffer, partSize: number): void {
  let same = 0;
  while (same < zip.length && zip[same] === expected[same]) same++;
  assert.equal(
    same,
    expected.length,
    `archives differ from byte ${same} (part ${Math.floor(same / partSize) + 1})`,
  );
  assert.equal(zip.length, expected.length);
}

/**
 * The figures of the last progress signal a run's activity sent to its workflow (fails when it
 * sent none).
 */
export async function lastStreamProgress(handle: {
  fetchHistory(): Promise<temporal.api.history.v1.IHistory>;
}): Promise<StreamProgress> {
  const history = await handle.fetchHistory();
  const signals = (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a) => a?.signalName === STREAM_PROGRESS_SIGNAL);
  assert.ok(signals.length >= 1, 'the activity signalled its progress');
  const last = signals[signals.length - 1]!.input!.payloads![0]!.data!;
  return JSON.parse(Buffer.from(last).toString()) as StreamProgress;
}
