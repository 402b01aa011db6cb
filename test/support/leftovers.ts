import { ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { listUploads } from '../../src/s3/destination';

/** Where a run keeps its state while it works; nothing may stay there once it ends. */
export const STATE_PREFIX = '.zipflow/state/';

/**
 * What runs left behind in a bucket (DESIGN invariant 5): open multipart uploads and state
 * objects, one line each.
 */
export async function leftoversIn(client: S3Client, bucket: string): Promise<string[]> {
  const found: string[] = [];
  for await (const u of listUploads(client, bucket)) {
    found.push(`s3://${bucket}/${u.key}: open multipart upload ${u.uploadId}`);
  }
  let token: string | undefined;
  do {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: STATE_PREFIX, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) found.push(`s3://${bucket}/${o.Key}: state object`);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return found;
}

/** leftoversIn for every bucket the store holds. */
export async function leftoversEverywhere(client: S3Client): Promise<string[]> {
  const { Buckets = [] } = await client.send(new ListBucketsCommand({}));
  const found: string[] = [];
  for (const b of Buckets) if (b.Name) found.push(...(await leftoversIn(client, b.Name)));
  return found;
}
