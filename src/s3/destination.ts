import { HeadObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { MultipartSession } from './multipart';

export async function objectExists(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') return false;
    throw err;
  }
}

/** The multipart uploads open in a bucket (under a prefix), page by page. */
export async function* listUploads(
  client: S3Client,
  bucket: string,
  prefix?: string,
): AsyncGenerator<{ key: string; uploadId: string }> {
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const out = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const u of out.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId) yield { key: u.Key, uploadId: u.UploadId };
    }
    keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
    uploadIdMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined;
  } while (keyMarker);
}

/** Aborts every multipart upload open for exactly this key. */
export async function abortUploads(
  client: S3Client,
  bucket: string,
  key: string,
  /** An upload id to leave open (the one a retry continues). */
  keep?: string,
): Promise<number> {
  let aborted = 0;
  for await (const u of listUploads(client, bucket, key)) {
    if (u.key !== key || u.uploadId === keep) continue;
    await MultipartSession.attach(client, { bucket, key }, u.uploadId).abort();
    aborted += 1;
  }
  return aborted;
}
