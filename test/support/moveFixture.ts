import {
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { mapLimited } from '../../src/engine/write/jobs';
import { getObject } from './archive';
import * as activities from '../../src/activities';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from './env';

export interface Buckets {
  client: S3Client;
  source: string;
  destination: string;
  remove(): Promise<void>;
}

/** Source objects under data/ (archived) and keep/ (outside the source prefix). */
export async function buckets(count: number, versioned = false): Promise<Buckets> {
  const client = await s3();
  const source = await tempBucket(client, 'msrc');
  const destination = await tempBucket(client, 'mdst');
  if (versioned) {
    await client.send(
      new PutBucketVersioningCommand({
        Bucket: source.name,
        VersioningConfiguration: { Status: 'Enabled' },
      }),
    );
  }
  const keys = [
    ...Array.from({ length: count }, (_, i) => `data/${String(i).padStart(5, '0')}.txt`),
    'keep/a.txt',
    'keep/b.txt',
  ];
  await mapLimited(keys, 32, (key) =>
    client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: `object ${key}\n` })),
  );
  return {
    client,
    source: source.name,
    destination: destination.name,
    async remove() {
      if (versioned) await deleteVersions(client, source.name);
      await source.remove();
      await destination.remove();
    },
  };
}

export async function deleteVersions(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const out = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const all = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((v) => ({
      Key: v.Key!,
      VersionId: v.VersionId,
    }));
    if (all.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: all } }));
  }
}

export function request(b: Buckets, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    source: { bucket: b.source, prefix: 'data/' },
    destination: { bucket: b.destination, key: `${uniqueName('move')}.zip` },
    ...extra,
  };
}

/** One line of `<key>.moved.jsonl`. */
export interface MoveReportLine {
  key: string;
  etag: string;
  action: string;
  versionId?: string;
}

export async function reportLines(b: Buckets, key: string): Promise<MoveReportLine[]> {
  const text = (await getObject(b.client, b.destination, key)).toString().trim();
  return text.split('\n').map((l) => JSON.parse(l) as MoveReportLine);
}

/** Runs an archive on an in-process worker whose verifyArchive first does `before`. */
export async function runWith(
  req: ArchiveRequest,
  before: () => Promise<void> = async () => undefined,
): Promise<ArchiveResult> {
  const { client, close } = await temporalClient();
  try {
    const verifyArchive: typeof activities.verifyArchive = async (input) => {
      await before();
      return activities.verifyArchive(input);
    };
    return await withWorker({ activities: { ...activities, verifyArchive } }, (taskQueue) =>
      client.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId(req.destination),
        args: [req],
      }),
    );
  } finally {
    await close();
  }
}
