/**
 * Deletes that only remove the object version that was looked at. A versioned bucket names it
 * by VersionId (a later write is a new version and stays). Otherwise the ETag rides in each
 * DeleteObjects ObjectIdentifier as a precondition, which not every store honours: SeaweedFS
 * refuses a stale one with PreconditionFailed, MinIO ignores it and deletes whatever is there,
 * so callers ask `honoursDeleteETag` before relying on it.
 */
import {
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** One object as it was looked at: its ETag, and its version id in a versioned bucket. */
export interface ObjectVersionRef {
  key: string;
  etag: string;
  /**
   * Only where the bucket keeps versions: there even "null" (an object older than versioning)
   * names one version, since a later write adds another.
   */
  versionId?: string;
}

export interface ConditionalDeleteResult {
  /** Keys whose version was deleted (or was already gone). */
  deleted: string[];
  /** Keys the store refused to delete because they no longer had the ETag looked at. */
  changed: string[];
}

/** HeadObject with its ETag and VersionId, or undefined when there is no such key (version). */
export async function headVersion(
  client: S3Client,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<ObjectVersionRef | undefined> {
  try {
    const out = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
    );
    return { key, etag: out.ETag ?? '', versionId: out.VersionId };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchVersion') return undefined;
    throw err;
  }
}

/** Whether the bucket keeps versions now (versioning Enabled; Suspended overwrites "null"). */
export async function bucketVersioned(client: S3Client, bucket: string): Promise<boolean> {
  const out = await client.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  return out.Status === 'Enabled';
}

/**
 * Whether the store refuses a DeleteObjects entry whose ETag no longer matches: writes
 * `probeKey`, asks to delete it under another ETag, and looks whether it is still there. The
 * probe object is removed either way.
 */
export async function honoursDeleteETag(
  client: S3Client,
  bucket: string,
  probeKey: string,
): Promise<boolean> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: probeKey, Body: 'probe' }));
  try {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: probeKey, ETag: '"00000000000000000000000000000000"' }] },
      }),
    );
    return (await headVersion(client, bucket, probeKey)) !== undefined;
  } finally {
    await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: probeKey }] } }),
    );
  }
}

/**
 * DeleteObjects (up to 1,000 objects) that removes each object only as it was looked at: by
 * version id where it has one, else under its ETag. A refused precondition is reported as
 * changed; any other refusal fails the call.
 */
export async function deleteIfUnchanged(
  client: S3Client,
  bucket: string,
  objects: ObjectVersionRef[],
): Promise<ConditionalDeleteResult> {
  if (objects.length === 0) return { deleted: [], changed: [] };
  const out = await client.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: {
        Objects: objects.map((o) =>
          o.versionId !== undefined
            ? { Key: o.key, VersionId: o.versionId }
            : { Key: o.key, ETag: o.etag },
        ),
        Quiet: true,
      },
    }),
  );
  const changed = new Set<string>();
  const failed = [];
  for (const e of out.Errors ?? []) {
    if (e.Code === 'PreconditionFailed' && e.Key !== undefined) changed.add(e.Key);
    else failed.push(e);
  }
  if (failed.length > 0) {
    throw new Error(
      `DeleteObjects refused ${failed.length} of ${objects.length} keys, e.g. ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`,
    );
  }
  return {
    deleted: objects.filter((o) => !changed.has(o.key)).map((o) => o.key),
    changed: [...changed],
  };
}
