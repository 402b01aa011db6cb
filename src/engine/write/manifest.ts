import { manifestKey } from '../../shared/stateKeys';
import { PutObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { sseParams, type MultipartTarget } from '../../s3/multipart';

/**
 * Streams the manifest (one JSON line per entry) from the spilled chunks into an object next
 * to the archive. lib-storage's Upload fits here: a one-shot object of unknown length that it
 * buffers a part at a time, so millions of entries stay bounded.
 */
export async function writeManifest(
  client: S3Client,
  bucket: string,
  archiveKey: string,
  lines: AsyncIterable<Buffer>,
  serverSideEncryption?: MultipartTarget['serverSideEncryption'],
): Promise<string> {
  const key = manifestKey(archiveKey);
  await uploadJsonLines(client, bucket, key, lines, serverSideEncryption);
  return key;
}

/** An object of JSON lines, of a length known only at its end (manifests, move reports). */
export async function uploadJsonLines(
  client: S3Client,
  bucket: string,
  key: string,
  lines: AsyncIterable<Buffer>,
  serverSideEncryption?: MultipartTarget['serverSideEncryption'],
): Promise<void> {
  await new Upload({
    client,
    params: {
      Bucket: bucket,
      Key: key,
      Body: Readable.from(lines),
      ContentType: 'application/x-ndjson',
      // The manifest names every entry: it is stored encrypted like the archive.
      ...sseParams(serverSideEncryption),
    },
  }).done();
}

/** Tags the archive with its checksums, so they travel with the object. */
export async function tagArchive(
  client: S3Client,
  bucket: string,
  key: string,
  checksums: { sha256?: string; crc32: string },
): Promise<void> {
  await client.send(
    new PutObjectTaggingCommand({
      Bucket: bucket,
      Key: key,
      Tagging: {
        TagSet: [
          ...(checksums.sha256 !== undefined
            ? [{ Key: 'zipflow-sha256', Value: checksums.sha256 }]
            : []),
          { Key: 'zipflow-crc32', Value: checksums.crc32 },
        ],
      },
    }),
  );
}
