/**
 * Move: after an archive is complete and verified, its source objects are deleted or tagged,
 * only those whose ETag is still the one the manifest recorded. The manifest is read in
 * batches of up to 1,000 objects; for each batch a decision record (what to remove, what
 * changed) is stored before anything is removed, and a done record after. A retry skips done
 * batches and redoes a decided one by looking again (an object already gone was removed by
 * the earlier attempt; one replaced meanwhile is left), so nothing is removed twice, nothing
 * not archived is removed, and every object is reported once, in `<key>.moved.jsonl`.
 */
import {
  manifestKey,
  moveProbeKey,
  moveRecordKey,
  movedKey,
  ZIPFLOW_PREFIX,
} from '../shared/stateKeys';
import { currentAttempt } from './run/attempt';
import {
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  type S3Client,
  type Tag,
} from '@aws-sdk/client-s3';
import { withS3Clients } from '../s3/client';
import {
  bucketVersioned,
  deleteIfUnchanged,
  headVersion,
  honoursDeleteETag,
} from '../s3/conditionalDelete';
import { getStateIfAny, putState } from '../s3/objects';
import type { ArchiveRequest, MoveReport } from '../shared/request';
import { RunFailure, withS3Failures } from './run/failures';
import { mapLimited } from './write/jobs';
import { uploadJsonLines } from './write/manifest';
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
  /** The version removed, where the source bucket keeps versions. */
  versionId?: string;
}

export interface MoveInput {
  request: ArchiveRequest;
  statePrefix: string;
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
    key.startsWith(ZIPFLOW_PREFIX)
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
  const profiles = [{ profile: request.source.profile }, { profile: request.destination.profile }];
  return withS3Clients(profiles, async ([src, dst]) => {
    const { bucket, key } = request.destination;
    const manifest = await openManifest(dst, bucket, key);
    if (!manifest) throw new Error(`s3://${bucket}/${manifestKey(key)} does not exist`);
    // Looked at again here: the bucket's versioning may have changed since planning.
    const versioned =
      action === 'delete' && !dryRun
        ? await requireConditionalDelete(src, request, input.statePrefix)
        : await bucketVersioned(src, request.source.bucket);
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
      await moveBatch({ input, src, dst, batch, index: batches, action, dryRun, versioned });
      batches += 1;
      ctx.heartbeat({ batchesDone: batches });
    }
    return { action, dryRun, ...(await writeReport(dst, input, batches)) };
  });
}

async function moveBatch(args: {
  input: MoveInput;
  src: S3Client;
  dst: S3Client;
  batch: { key: string; etag: string }[];
  index: number;
  action: 'delete' | 'tag';
  dryRun: boolean;
  versioned: boolean;
}): Promise<void> {
  const { input, src, dst, batch, index, action, dryRun, versioned } = args;
  const { request, statePrefix } = input;
  const bucket = request.destination.bucket;
  if ((await getStateIfAny(dst, bucket, moveRecordKey(statePrefix, index, 'done'))) !== undefined)
    return;
  const earlier = await getStateIfAny(dst, bucket, moveRecordKey(statePrefix, index, 'decided'));
  const redo = earlier !== undefined;
  const removeAs: MoveAction = dryRun
    ? action === 'delete'
      ? 'would delete'
      : 'would tag'
    : action === 'delete'
      ? 'deleted'
      : 'tagged';
  // Look at every object: a decided batch is looked at again, since an earlier attempt may
  // have removed some of its objects, and others may have changed since.
  const candidates = redo ? parseLines(earlier) : batch.map((o) => ({ ...o, action: removeAs }));
  const looked = await mapLimited(candidates, HEAD_CONCURRENCY, (o) =>
    lookAgain(src, request, o, redo, removeAs, versioned),
  );
  currentAttempt().heartbeat({ batch: index });
  const lines = looked.map((l) => l.line);
  if (!redo)
    await putState(dst, bucket, moveRecordKey(statePrefix, index, 'decided'), serialize(lines));
  const remove = looked.filter((l) => l.present && l.line.action === removeAs).map((l) => l.line);
  if (!dryRun && remove.length > 0) {
    const changed =
      action === 'delete'
        ? (await deleteIfUnchanged(src, request.source.bucket, remove)).changed
        : (
            await mapLimited(remove, HEAD_CONCURRENCY, async (l) =>
              (await tagIfUnchanged(src, request, l)) ? undefined : l.key,
            )
          ).filter((k) => k !== undefined);
    // Changed between the look and the removal: left in place (untagged) and reported.
    const left = new Set(changed);
    for (const l of lines) if (left.has(l.key)) l.action = 'changed';
  }
  await putState(dst, bucket, moveRecordKey(statePrefix, index, 'done'), serialize(lines));
}

/**
 * What to do with one object, from a fresh look at it: `present` when it is still there to
 * remove. The line keeps the version id looked at, so the removal (and a redo) names exactly
 * that version.
 */
async function lookAgain(
  src: S3Client,
  request: ArchiveRequest,
  o: MoveLine,
  redo: boolean,
  removeAs: MoveAction,
  versioned: boolean,
): Promise<{ line: MoveLine; present: boolean }> {
  const { key, etag } = o;
  if (protectedKey(request, key)) return { line: { key, etag, action: 'changed' }, present: false };
  if (redo && o.action !== removeAs) return { line: o, present: false };
  const bucket = request.source.bucket;
  if (redo && o.versionId !== undefined) {
    // The decided version: gone means the earlier attempt removed it.
    const version = await headVersion(src, bucket, key, o.versionId);
    return { line: o, present: version !== undefined };
  }
  const head = await headVersion(src, bucket, key);
  // Gone: in a redo of a decided removal, the earlier attempt deleted it.
  if (head === undefined)
    return { line: { key, etag, action: redo ? removeAs : 'missing' }, present: false };
  if (head.etag !== etag) return { line: { key, etag, action: 'changed' }, present: false };
  const versionId = versioned ? head.versionId : undefined;
  return {
    line: { key, etag, action: removeAs, ...(versionId !== undefined ? { versionId } : {}) },
    present: true,
  };
}

/**
 * Delete mode needs a store that removes only the version looked at: a versioned source
 * bucket (deletes name the version id), or a store that honours the ETag precondition of
 * DeleteObjects (looked at once with a probe object under the run's state prefix). Anything
 * else is refused before a source is touched.
 */
export async function requireConditionalDelete(
  src: S3Client,
  request: ArchiveRequest,
  statePrefix: string,
): Promise<boolean> {
  const bucket = request.source.bucket;
  if (await bucketVersioned(src, bucket)) return true;
  if (await honoursDeleteETag(src, bucket, moveProbeKey(statePrefix))) return false;
  throw RunFailure.nonRetryable(
    `afterArchive "delete": bucket "${bucket}" keeps no versions and its store ignores the ETag condition of DeleteObjects, so an object overwritten while the sources are removed would be deleted although it was never archived. Enable versioning on the source bucket (deletes then name the version archived), or use afterArchive "tag" and let a lifecycle rule expire the tagged objects`,
    'ConditionalDeleteUnsupported',
    { field: 'afterArchive', bucket },
  );
}

/**
 * Adds the zipflow-archived tag to the object version looked at (PutObjectTagging replaces
 * the set), and says whether that was the archived content. Without a version id no store
 * offers a condition on tagging: the object is looked at again after, and if it changed
 * meanwhile the tag is taken off again, so a lifecycle rule keyed on it does not expire the
 * new content.
 */
async function tagIfUnchanged(
  client: S3Client,
  request: ArchiveRequest,
  line: MoveLine,
): Promise<boolean> {
  const bucket = request.source.bucket;
  const { key, versionId } = line;
  const { TagSet = [] } = await client.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  const others = TagSet.filter((t) => t.Key !== ARCHIVED_TAG);
  const value = `s3://${request.destination.bucket}/${request.destination.key}`;
  const put = (tags: Tag[]) =>
    client.send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: key,
        VersionId: versionId,
        Tagging: { TagSet: tags },
      }),
    );
  await put([...others, { Key: ARCHIVED_TAG, Value: value }]);
  if (versionId !== undefined) return true;
  const after = await headVersion(client, bucket, key);
  if (after?.etag === line.etag) return true;
  if (after !== undefined) await put(others);
  return false;
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
      const body = await getStateIfAny(dst, bucket, moveRecordKey(statePrefix, i, 'done'));
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
