/**
 * Move: after an archive is complete and verified, its source objects are deleted or tagged,
 * only those whose ETag is still the one the manifest recorded. The manifest is read in
 * batches of up to 1,000 objects; for each batch a decision record (what to remove, what
 * changed) is stored before anything is removed, and a done record after. A retry skips done
 * batches and redoes a decided one by looking again (an object already gone was removed by
 * the earlier attempt; one replaced meanwhile is left), so nothing is removed twice, nothing
 * not archived is removed, and every object is reported once, in `<key>.moved.jsonl`.
 */
import { currentAttempt } from './run/attempt';
import {
  DeleteObjectsCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client';
import { getStateIfAny, headObject, putState } from '../s3/objects';
import type { ArchiveRequest, MoveReport } from '../shared/request';
import { withS3Failures } from './run/failures';
import { mapLimited } from './write/jobs';
import { manifestKey, uploadJsonLines } from './write/manifest';
import { openManifest } from './verify';

/** DeleteObjects takes at most 1,000 keys a request. */
export const MOVE_BATCH = 1000;
const HEAD_CONCURRENCY = 16;
const CHANGED_KEYS_SHOWN = 10;
export const ARCHIVED_TAG = 'zipflow-archived';

export type MoveAction =
  'deleted' | 'tagged' | 'would delete' | 'would tag' | 'changed' | 'missing';

/** One line of a batch record and of the report. */
interface MoveLine {
  key: string;
  etag: string;
  action: MoveAction;
}

export interface MoveInput {
  request: ArchiveRequest;
  statePrefix: string;
}

export function movedKey(archiveKey: string): string {
  return `${archiveKey}.moved.jsonl`;
}

function recordKey(statePrefix: string, batch: number, kind: 'decided' | 'done'): string {
  return `${statePrefix}move/${String(batch).padStart(8, '0')}.${kind}.jsonl`;
}

function parseLines(body: Buffer): MoveLine[] {
  const text = body.toString('utf8');
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as MoveLine);
}

function serialize(lines: MoveLine[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n');
}

/** Objects the move never touches, whatever the manifest says: the archive's own. */
function protectedKey(request: ArchiveRequest, key: string): boolean {
  const { source, destination } = request;
  if (source.bucket !== destination.bucket) return false;
  return (
    key === destination.key ||
    key === manifestKey(destination.key) ||
    key === movedKey(destination.key) ||
    key.startsWith('.zipflow/')
  );
}

/** Deletes or tags the archived source objects that have not changed; returns what it did. */
export function moveSources(input: MoveInput): Promise<MoveReport> {
  return withS3Failures(input.request, () => move(input));
}

async function move(input: MoveInput): Promise<MoveReport> {
  const { request } = input;
  const ctx = currentAttempt();
  const action = request.afterArchive === 'tag' ? 'tag' : 'delete';
  const dryRun = request.dryRun === true;
  const [src, dst] = await Promise.all([
    createS3Client({ profile: request.source.profile }),
    createS3Client({ profile: request.destination.profile }),
  ]);
  try {
    const { bucket, key } = request.destination;
    const manifest = await openManifest(dst, bucket, key);
    if (!manifest) throw new Error(`s3://${bucket}/${manifestKey(key)} does not exist`);
    let batches = 0;
    for (;;) {
      const batch: { key: string; etag: string }[] = [];
      while (batch.length < MOVE_BATCH) {
        const next = await manifest.next();
        if (next.done) break;
        if (
          next.value.key !== undefined &&
          next.value.etag !== undefined &&
          !next.value.name.endsWith('/')
        )
          batch.push({ key: next.value.key, etag: next.value.etag });
      }
      if (batch.length === 0) break;
      await moveBatch({ input, src, dst, batch, index: batches, action, dryRun });
      batches += 1;
      ctx.heartbeat({ batchesDone: batches });
    }
    return { action, dryRun, ...(await writeReport(dst, input, batches)) };
  } finally {
    src.destroy();
    dst.destroy();
  }
}

async function moveBatch(args: {
  input: MoveInput;
  src: S3Client;
  dst: S3Client;
  batch: { key: string; etag: string }[];
  index: number;
  action: 'delete' | 'tag';
  dryRun: boolean;
}): Promise<void> {
  const { input, src, dst, batch, index, action, dryRun } = args;
  const { request, statePrefix } = input;
  const bucket = request.destination.bucket;
  if ((await getStateIfAny(dst, bucket, recordKey(statePrefix, index, 'done'))) !== undefined)
    return;
  const earlier = await getStateIfAny(dst, bucket, recordKey(statePrefix, index, 'decided'));
  const redo = earlier !== undefined;
  // Look at every object: a decided batch is looked at again, since an earlier attempt may
  // have removed some of its objects, and others may have changed since.
  const candidates = redo
    ? parseLines(earlier)
    : batch.map((o) => ({ ...o, action: 'deleted' as MoveAction }));
  const heads = await mapLimited(candidates, HEAD_CONCURRENCY, (o) =>
    o.action === 'changed' || protectedKey(request, o.key)
      ? Promise.resolve(undefined)
      : headObject(src, request.source.bucket, o.key),
  );
  currentAttempt().heartbeat({ batch: index });
  const removeAs: MoveAction = dryRun
    ? action === 'delete'
      ? 'would delete'
      : 'would tag'
    : action === 'delete'
      ? 'deleted'
      : 'tagged';
  const lines: MoveLine[] = candidates.map((o, i) => {
    if (protectedKey(request, o.key)) return { key: o.key, etag: o.etag, action: 'changed' };
    if (redo && o.action === 'changed') return o;
    const head = heads[i];
    if (head === undefined) {
      // Gone: in a redo of a decided removal, the earlier attempt deleted it.
      return {
        key: o.key,
        etag: o.etag,
        action: redo && o.action === removeAs ? removeAs : 'missing',
      };
    }
    return { key: o.key, etag: o.etag, action: head.etag === o.etag ? removeAs : 'changed' };
  });
  if (!redo)
    await putState(dst, bucket, recordKey(statePrefix, index, 'decided'), serialize(lines));
  const remove = lines.filter((l, i) => l.action === removeAs && heads[i] !== undefined);
  if (!dryRun && remove.length > 0) {
    if (action === 'delete')
      await deleteObjects(
        src,
        request.source.bucket,
        remove.map((l) => l.key),
      );
    else await mapLimited(remove, HEAD_CONCURRENCY, (l) => tagObject(src, request, l.key));
  }
  await putState(dst, bucket, recordKey(statePrefix, index, 'done'), serialize(lines));
}

async function deleteObjects(client: S3Client, bucket: string, keys: string[]): Promise<void> {
  const out = await client.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
    }),
  );
  const failed = out.Errors ?? [];
  if (failed.length > 0) {
    throw new Error(
      `DeleteObjects refused ${failed.length} of ${keys.length} keys, e.g. ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`,
    );
  }
}

/** Adds the zipflow-archived tag to an object's tags (PutObjectTagging replaces the set). */
async function tagObject(client: S3Client, request: ArchiveRequest, key: string): Promise<void> {
  const bucket = request.source.bucket;
  const { TagSet = [] } = await client.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: key }),
  );
  const value = `s3://${request.destination.bucket}/${request.destination.key}`;
  await client.send(
    new PutObjectTaggingCommand({
      Bucket: bucket,
      Key: key,
      Tagging: {
        TagSet: [
          ...TagSet.filter((t) => t.Key !== ARCHIVED_TAG),
          { Key: ARCHIVED_TAG, Value: value },
        ],
      },
    }),
  );
}

/** Streams the done records into `<key>.moved.jsonl`, counting what each line says. */
async function writeReport(
  dst: S3Client,
  input: MoveInput,
  batches: number,
): Promise<Omit<MoveReport, 'action' | 'dryRun'>> {
  const { request, statePrefix } = input;
  const { bucket, key } = request.destination;
  const counts = { removed: 0, changed: 0, missing: 0 };
  const changedKeys: string[] = [];
  async function* lines(): AsyncGenerator<Buffer> {
    for (let i = 0; i < batches; i++) {
      const body = await getStateIfAny(dst, bucket, recordKey(statePrefix, i, 'done'));
      if (body === undefined) throw new Error(`move record ${i} is missing`);
      for (const line of parseLines(body)) {
        if (line.action === 'changed') {
          counts.changed += 1;
          if (changedKeys.length < CHANGED_KEYS_SHOWN) changedKeys.push(line.key);
        } else if (line.action === 'missing') counts.missing += 1;
        else counts.removed += 1;
      }
      yield Buffer.from(`${body.toString('utf8')}\n`);
    }
  }
  const reportKey = movedKey(key);
  await uploadJsonLines(dst, bucket, reportKey, lines(), request.destination.serverSideEncryption);
  return { ...counts, changedKeys, reportKey };
}
