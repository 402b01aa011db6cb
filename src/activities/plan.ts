import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client';
import { getState, listPage, putState, type ListedObject } from '../s3/objects';
import type { ArchiveRequest } from '../shared/request';

export interface PlanPageInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunk: number;
  continuationToken?: string;
}

export interface PlanPageOutput {
  entries: number;
  bytes: number;
  nextContinuationToken?: string;
}

function planKey(statePrefix: string, chunk: number): string {
  return `${statePrefix}plan/${String(chunk).padStart(8, '0')}.jsonl`;
}

/** Entry name for a key: relative to the source prefix, never absolute. */
export function entryName(prefix: string | undefined, key: string): string {
  const rest = prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  return rest.replace(/^\/+/, '');
}

/**
 * Lists one page of the source and stores it as a plan chunk under the run's state prefix,
 * so workflow history holds counts and chunk numbers, never key lists.
 */
export async function planPage(input: PlanPageInput): Promise<PlanPageOutput> {
  const { source, destination } = input.request;
  const [src, dst] = await Promise.all([
    createS3Client({ profile: source.profile }),
    createS3Client({ profile: destination.profile }),
  ]);
  const page = await listPage(src, source.bucket, source.prefix, input.continuationToken);
  const objects = page.objects.filter((o) => entryName(source.prefix, o.key) !== '');
  if (objects.length > 0) {
    const body = objects.map((o) => JSON.stringify(o)).join('\n');
    await putState(dst, destination.bucket, planKey(input.statePrefix, input.chunk), body);
  }
  return {
    entries: objects.length,
    bytes: objects.reduce((n, o) => n + o.size, 0),
    nextContinuationToken: page.nextContinuationToken,
  };
}

export async function readPlanChunk(
  client: S3Client,
  bucket: string,
  statePrefix: string,
  chunk: number,
): Promise<ListedObject[]> {
  const text = (await getState(client, bucket, planKey(statePrefix, chunk))).toString('utf8');
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as ListedObject);
}
