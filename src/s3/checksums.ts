import {
  GetObjectAttributesCommand,
  HeadObjectCommand,
  type ObjectPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { crc32Combine } from '../zip';
import { sendDirect } from './directRequests';
import { sourceChangeOf } from './objectReader';
import type { ListedObject } from './objects';

/**
 * Why the store gives no CRC-32 of a whole object: it holds none (another algorithm, or
 * none), or the object was uploaded in parts and the store lists no CRC-32 per part (SeaweedFS
 * keeps only the COMPOSITE value, a CRC of the part CRCs, from which the object's cannot be
 * derived).
 */
export type NoSourceCrc32 = 'noCrc32' | 'noPartCrc32s';

/**
 * The CRC-32 of a whole source object as S3 knows it, without reading the object: its
 * FULL_OBJECT checksum, or (an object uploaded in parts with CRC-32 part checksums) the part
 * checksums combined in order. Otherwise why it has none: such an object is streamed.
 */
export async function sourceCrc32(
  client: S3Client,
  bucket: string,
  object: ListedObject,
): Promise<{ crc32: number } | { none: NoSourceCrc32 }> {
  const head = await headChecksum(client, bucket, object);
  const value = head.crc32;
  if (!value) return { none: 'noCrc32' };
  if (head.type !== 'COMPOSITE' && !value.includes('-')) return { crc32: decode(value) };
  const parts = await objectParts(client, bucket, object);
  if (parts === null) return { none: 'noPartCrc32s' };
  let crc = 0;
  let covered = 0;
  for (const p of parts) {
    crc = crc32Combine(crc, decode(p.ChecksumCRC32!), p.Size!);
    covered += p.Size!;
  }
  return covered === object.size ? { crc32: crc } : { none: 'noPartCrc32s' };
}

/** The object's CRC-32 checksum and its type, as HeadObject gives them, pinned to the ETag. */
async function headChecksum(
  client: S3Client,
  bucket: string,
  object: ListedObject,
): Promise<{ crc32?: string; type?: string }> {
  const direct = await sendDirect(client, {
    method: 'HEAD',
    bucket,
    key: object.key,
    headers: {
      ...(object.etag ? { 'if-match': object.etag } : {}),
      'x-amz-checksum-mode': 'ENABLED',
    },
    ok: (status) => status === 200,
  });
  if (direct)
    return {
      crc32: direct.headers['x-amz-checksum-crc32'],
      type: direct.headers['x-amz-checksum-type'],
    };
  try {
    const head = await client.send(
      new HeadObjectCommand({
        Bucket: bucket,
        Key: object.key,
        IfMatch: object.etag,
        ChecksumMode: 'ENABLED',
      }),
    );
    return { crc32: head.ChecksumCRC32, type: head.ChecksumType };
  } catch (err) {
    throw sourceChangeOf(err, object.key) ?? err;
  }
}

/** The parts of an object with their CRC-32 checksums, or null when any is missing. */
async function objectParts(
  client: S3Client,
  bucket: string,
  object: ListedObject,
): Promise<ObjectPart[] | null> {
  const parts: ObjectPart[] = [];
  let marker: string | undefined;
  do {
    let out;
    try {
      out = await client.send(
        new GetObjectAttributesCommand({
          Bucket: bucket,
          Key: object.key,
          // One attribute per request: MinIO refuses a list of them.
          ObjectAttributes: ['ObjectParts'],
          PartNumberMarker: marker,
        }),
      );
    } catch (err) {
      // A store (or a policy) that does not give part checksums: the object is streamed.
      // The ETag was checked by the HEAD just before, and copies are pinned to it.
      const name = (err as { name?: string }).name;
      if (name === 'AccessDenied' || name === 'NotImplemented' || name === 'InvalidArgument')
        return null;
      throw err;
    }
    const page = out.ObjectParts;
    for (const p of page?.Parts ?? []) {
      if (!p.ChecksumCRC32 || p.Size === undefined) return null;
      parts.push(p);
    }
    marker = page?.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  return parts.length > 0 ? parts : null;
}

function decode(base64: string): number {
  return Buffer.from(base64, 'base64').readUInt32BE(0);
}
