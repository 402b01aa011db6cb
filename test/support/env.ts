import crypto from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { ENV, temporalSettings } from '../../src/runtime/config';
import { createS3Client } from '../../src/s3/client';
import { listUploads } from '../../src/s3/destination';
import { deletePrefix } from '../../src/s3/objects';
import { leftoversIn } from './leftovers';
import { createWorker } from '../../src/worker';
import { pingActivities } from './pingWorkflow';
import {
  archiveWorkflowId,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/shared/request';

/** The integration tier runs inside `npm test`, which starts the stack and sets these. */
export function requireStack(): void {
  for (const name of [ENV.temporalAddress, ENV.s3Endpoint, ENV.accessKeyId]) {
    if (!process.env[name]) {
      throw new Error(
        `${name} is not set: run integration tests through "npm test" (it starts Temporal and MinIO)`,
      );
    }
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

export async function s3(): Promise<S3Client> {
  requireStack();
  return createS3Client();
}

/**
 * A fresh bucket, emptied and removed by the returned cleanup, which fails (after removing
 * the bucket) when a run left an open multipart upload or a state object in it.
 */
export async function tempBucket(
  client: S3Client,
  prefix = 'zf',
): Promise<{ name: string; remove(): Promise<void> }> {
  const name = uniqueName(prefix);
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return {
    name,
    async remove() {
      const left = await leftoversIn(client, name);
      await abortAllUploads(client, name);
      await deletePrefix(client, name, '');
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      if (left.length > 0) {
        throw new Error(`runs left these behind in bucket ${name}:\n  ${left.join('\n  ')}`);
      }
    },
  };
}

/** Aborts every open multipart upload in a bucket (so a leak, once reported, does not block removal). */
async function abortAllUploads(client: S3Client, bucket: string): Promise<void> {
  for await (const u of listUploads(client, bucket)) {
    await client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }),
    );
  }
}

/** A source bucket holding `objects` and an empty destination bucket; remove() drops both. */
export async function archiveBuckets(
  client: S3Client,
  objects: ReadonlyMap<string, Buffer | string>,
  sourcePrefix = 'src',
): Promise<{ source: string; destination: string; remove(): Promise<void> }> {
  const source = await tempBucket(client, sourcePrefix);
  const destination = await tempBucket(client, 'dst');
  for (const [key, body] of objects) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
  return {
    source: source.name,
    destination: destination.name,
    async remove() {
      await source.remove();
      await destination.remove();
    },
  };
}

export async function temporalClient(): Promise<{ client: Client; close(): Promise<void> }> {
  requireStack();
  const settings = temporalSettings();
  const connection = await Connection.connect({ address: settings.address });
  return {
    client: new Client({ connection, namespace: settings.namespace }),
    close: () => connection.close(),
  };
}

/** Runs a worker on its own task queue while `body` runs, then shuts it down. */
export async function withWorker<T>(
  options: { workflowsPath?: string; taskQueue?: string; activities?: object },
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  requireStack();
  const taskQueue = options.taskQueue ?? uniqueName('tq');
  const { worker, connection } = await createWorker({ ...options, taskQueue });
  try {
    return await worker.runUntil(body(taskQueue));
  } finally {
    await connection.close();
  }
}

/** Runs the archive workflow for `request` on an in-process worker and returns its result. */
export async function runArchive(request: ArchiveRequest): Promise<ArchiveResult> {
  const { client, close } = await temporalClient();
  try {
    return await withWorker({}, (taskQueue) =>
      client.workflow.execute('archive', {
        taskQueue,
        workflowId: archiveWorkflowId(request.destination),
        args: [request],
      }),
    );
  } finally {
    await close();
  }
}

/** Runs the ping workflow (test/support/pingWorkflow.ts) on an in-process worker. */
export async function runPing(text: string): Promise<string> {
  const { client, close } = await temporalClient();
  try {
    return await withWorker(
      { workflowsPath: require.resolve('./pingWorkflow'), activities: pingActivities },
      (taskQueue) =>
        client.workflow.execute('ping', {
          taskQueue,
          workflowId: `ping-${crypto.randomUUID()}`,
          args: [text],
        }),
    );
  } finally {
    await close();
  }
}
