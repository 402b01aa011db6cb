import { planChunkKey } from '../../shared/stateKeys';
import type { S3Client } from '@aws-sdk/client-s3';
import { withS3Clients } from '../../s3/client';
import { attemptRetries } from '../run/retries';
import {
  getState,
  headObjects,
  KeyListError,
  listPage,
  putState,
  readKeyListPage,
  type ListedObject,
} from '../../s3/objects';
import { entryOrderOf, type ArchiveRequest } from '../../shared/request';
import { validateName, ZipInputError } from '../../zip';
import { packedOrder } from '../writers/copyPlan';
import { collisionForm } from '../../zip/names';
import { checkedRequest, withS3Failures, RunFailure } from '../run/failures';
import { isDirectoryObject, knownLocalHeader, WHOLE_ENTRY_MAX_BYTES } from './entries';
import { requireConditionalDelete } from '../move';
import { compileSelection, entryNameFor } from './select';

export interface PlanPageInput {
  request: ArchiveRequest;
  statePrefix: string;
  chunk: number;
  continuationToken?: string;
  /**
   * Incremental runs: only objects with LastModified (epoch ms) in [since, before); since is
   * absent before the first successful run.
   */
  modified?: { since?: number; before: number };
}

export interface PlanPageOutput {
  entries: number;
  bytes: number;
  /** Sum of the entry names' UTF-8 lengths: with entries and bytes, bounds the archive size. */
  nameBytes: number;
  nextContinuationToken?: string;
  /** S3 retries this page took, and its attempts beyond the first (ArchiveResult.retries). */
  retries: number;
}

/** Lines of a key list read per planPage call, like a ListObjectsV2 page. */
const KEY_LIST_PAGE = 1000;
/** HeadObject calls in flight when planning explicit keys. */
const HEAD_CONCURRENCY = 16;

/** One page of source objects (before selection) and where the next page starts. */
interface SourcePage {
  objects: ListedObject[];
  nextContinuationToken?: string;
}

/**
 * Plans one page of the source — a ListObjectsV2 page, the inline keys, or ~1,000 lines of
 * the key list — applies include/exclude and naming, and stores the result as a plan chunk
 * under the run's state prefix, so workflow history holds counts and chunk numbers, never
 * key lists.
 */
export function planPage(input: PlanPageInput): Promise<PlanPageOutput> {
  const { source, destination } = input.request;
  return withS3Failures(input.request, () =>
    withS3Clients([{ profile: source.profile }, { profile: destination.profile }], ([src, dst]) =>
      planSourcePage(input, src, dst),
    ),
  );
}

async function planSourcePage(
  input: PlanPageInput,
  src: S3Client,
  dst: S3Client,
): Promise<PlanPageOutput> {
  const { request } = input;
  const { destination } = request;
  // Delete mode is refused before anything is archived on a store that cannot delete safely.
  if (isFirstPage(input) && request.afterArchive === 'delete' && request.dryRun !== true)
    await requireConditionalDelete(src, request, input.statePrefix);
  const selected = selectionOf(request);
  const page = await sourcePage(src, request, selected, input.continuationToken);
  const listed = named(
    request,
    page.objects.filter((o) => selected(o.key) && modifiedIn(input.modified, o.lastModified)),
  );
  const objects = entryOrderOf(request) === 'packed' ? packedOrder(listed) : listed;
  if (request.localHeaders === 'known') checkKnownHeaders(request, objects);
  if (objects.length > 0) {
    const body = objects.map((o) => JSON.stringify(o)).join('\n');
    await putState(dst, destination.bucket, planChunkKey(input.statePrefix, input.chunk), body);
  }
  return {
    entries: objects.length,
    bytes: objects.reduce((n, o) => n + o.size, 0),
    nameBytes: objects.reduce((n, o) => n + Buffer.byteLength(o.name ?? ''), 0),
    nextContinuationToken: page.nextContinuationToken,
    retries: attemptRetries([src, dst]),
  };
}

function isFirstPage(input: PlanPageInput): boolean {
  return input.chunk === 0 && input.continuationToken === undefined;
}

/** localHeaders "known": every file must be small enough to be read whole before its header. */
function checkKnownHeaders(request: ArchiveRequest, objects: ListedObject[]): void {
  const large = objects.find((o) => !knownLocalHeader(request, o) && !isDirectoryObject(o));
  if (large === undefined) return;
  throw RunFailure.nonRetryable(
    `localHeaders "known": object ${JSON.stringify(large.key)} has ${large.size} bytes; only objects up to ${WHOLE_ENTRY_MAX_BYTES} bytes are read whole before their header, larger ones are known only if S3 stores their CRC-32, which is asked as they are written. Use localHeaders "auto" (larger objects get their CRC-32 in the header when S3 stores it and they are stored, else a data descriptor) or leave such objects out`,
    'LocalHeaderUnknown',
    { key: large.key, size: large.size },
  );
}

/** Whether an object's LastModified falls in an incremental run's range (always, otherwise). */
export function modifiedIn(range: PlanPageInput['modified'], lastModified: number): boolean {
  if (range === undefined) return true;
  return (range.since === undefined || lastModified >= range.since) && lastModified < range.before;
}

/** The selection, with a bad pattern turned into the workflow's InvalidRequest failure. */
function selectionOf(request: ArchiveRequest): (key: string) => boolean {
  return checkedRequest(() => compileSelection(request));
}

/** Reads one page of the source from `token` on, keeping the keys `selected` admits. */
type PageReader = (
  src: S3Client,
  request: ArchiveRequest,
  selected: (key: string) => boolean,
  token: string | undefined,
) => Promise<SourcePage>;

const sourcePage: PageReader = (src, request, selected, token) => {
  const { source } = request;
  // Keys are selected (and their names checked) before HeadObject, so excluded keys cost no
  // request and a key that makes no valid entry name fails before any is sent.
  if (source.keys) {
    const keys = source.keys.filter(selected);
    for (const key of keys) checkEntryName(request, key);
    return headKeys(src, source.bucket, keys);
  }
  if (source.keyList) return keyListPage(src, request, selected, token);
  return listPage(src, source.bucket, source.prefix, token, request.planning?.pageSize);
};

/** Explicit keys as listed objects; a key that does not exist fails the run by name. */
async function headKeys(src: S3Client, bucket: string, keys: string[]): Promise<SourcePage> {
  const found = await headObjects(src, bucket, keys, HEAD_CONCURRENCY);
  const missing = keys.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) {
    throw RunFailure.nonRetryable(
      `source object s3://${bucket}/${missing[0]} does not exist${missing.length > 1 ? ` (nor do ${missing.length - 1} more of the requested keys)` : ''}: fix or remove the key in the request`,
      'SourceMissing',
      { bucket, keys: missing.slice(0, 10) },
    );
  }
  return { objects: found as ListedObject[] };
}

/**
 * About 1,000 lines of the key list. The continuation token is "<byte offset>:<ETag>": the
 * offset where the next page starts, and the list's ETag so every page reads the same list.
 */
const keyListPage: PageReader = async (src, request, selected, token) => {
  const { source } = request;
  const location = { bucket: source.keyList!.bucket ?? source.bucket, key: source.keyList!.key };
  const { offset, etag } = parseKeyListToken(token);
  const page = await readKeyListPage(src, location, offset, { maxKeys: KEY_LIST_PAGE, etag }).catch(
    (err: unknown) => {
      if (!(err instanceof KeyListError)) throw err;
      const type = err.reason === 'missing' ? 'SourceMissing' : 'InvalidKeyList';
      throw RunFailure.nonRetryable(
        `${err.message}: check source.keyList`,
        err.reason === 'changed' ? 'SourceChanged' : type,
      );
    },
  );
  const { objects } = await headKeys(src, source.bucket, page.keys.filter(selected));
  return {
    objects,
    nextContinuationToken:
      page.nextOffset === undefined ? undefined : `${page.nextOffset}:${page.etag}`,
  };
};

function parseKeyListToken(token: string | undefined): { offset: number; etag?: string } {
  if (token === undefined) return { offset: 0 };
  const colon = token.indexOf(':');
  const offset = Number(colon === -1 ? token : token.slice(0, colon));
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw RunFailure.nonRetryable(`bad key list continuation token "${token}"`, 'InvalidPlanState');
  }
  return { offset, etag: colon === -1 ? undefined : token.slice(colon + 1) };
}

/**
 * Adds each object's entry name, drops objects whose name comes out empty, and refuses two
 * objects with the same name in this page (flattening can make them).
 */
function named(request: ArchiveRequest, objects: ListedObject[]): ListedObject[] {
  const keyOf = new Map<string, string>();
  const out: ListedObject[] = [];
  for (const object of objects) {
    const name = checkEntryName(request, object.key);
    if (name === '') continue;
    const other = keyOf.get(collisionForm(name));
    if (other !== undefined) {
      throw RunFailure.nonRetryable(
        `entry name "${name}" would come from both ${other} and ${object.key} (names equal in Unicode NFC are one file): use naming.mode "relative", or leave one out with source.exclude`,
        'DuplicateEntryName',
        { name, keys: [other, object.key] },
      );
    }
    keyOf.set(collisionForm(name), object.key);
    out.push({ ...object, name });
  }
  return out;
}

/**
 * The entry name for a key, refused at planning — before an upload exists — when the ZIP
 * encoder would refuse it: absolute, a ".." segment, a backslash, over 65,535 bytes.
 */
function checkEntryName(request: ArchiveRequest, key: string): string {
  const name = entryNameFor(request, key);
  if (name === '') return name;
  try {
    validateName(name, name.endsWith('/'));
  } catch (err) {
    if (!(err instanceof ZipInputError)) throw err;
    throw RunFailure.nonRetryable(
      `source object ${JSON.stringify(key)} would be entry ${JSON.stringify(name)}, which ${err.message.replace(/^name: /, '')}: leave it out with source.exclude (or source.keys), or rename the object`,
      'InvalidEntry',
      { key, name },
    );
  }
  return name;
}

export async function readPlanChunk(
  client: S3Client,
  bucket: string,
  statePrefix: string,
  chunk: number,
): Promise<ListedObject[]> {
  const text = (await getState(client, bucket, planChunkKey(statePrefix, chunk))).toString('utf8');
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as ListedObject);
}
