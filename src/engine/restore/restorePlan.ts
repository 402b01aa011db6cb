/**
 * Planning a restore: the archive's central directory (yauzl over ranged GETs, so any ZIP a
 * reader accepts, ZIP64 included), checked against zipflow's manifest when there is one,
 * narrowed to the selection and written as plan chunks under the run's state prefix. Workflow
 * history then holds counts and chunk numbers, never entry lists.
 */
import { restorePlanKey } from '../../shared/stateKeys';
import { currentAttempt } from '../run/attempt';
import { checkedRequest, RunFailure } from '../run/failures';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import picomatch from 'picomatch';
import yauzl from 'yauzl';
import { withS3Clients } from '../../s3/client';
import { getState, putState } from '../../s3/objects';
import { S3RangeReader, type SizedVersion } from '../../s3/rangeReader';
import { RequestError } from '../../shared/validate';
import type { RestoreRequest } from '../../shared/restore';
import { METHOD_DEFLATE, METHOD_STORE } from '../../zip/constants';
import { attemptRetries } from '../run/retries';
import { nextEntry, openManifest, openZip } from '../verify';
import { restoreFailure } from './restoreFailures';

/** One entry to restore, as a plan chunk line holds it. */
export interface RestoreEntry {
  name: string;
  /** The destination key: destination.prefix + name. */
  key: string;
  /** Offset of the local file header in the archive. */
  offset: number;
  compressedSize: number;
  size: number;
  crc32: number;
  method: number;
  /** Last modification time, epoch ms (UT extra field when present, else DOS time as UTC). */
  mtime: number;
}

export interface PlanRestoreInput {
  request: RestoreRequest;
  statePrefix: string;
}

export interface PlanRestoreOutput {
  /** The archive's version: every later read and copy is pinned to it. */
  archive: SizedVersion & { etag: string };
  chunks: number;
  entries: number;
  bytes: number;
  directories: number;
  manifestChecked: boolean;
  retries: number;
}

/** Entries per plan chunk: one restoreChunk activity each. */
export const RESTORE_CHUNK_ENTRIES = 500;

export async function readRestoreChunk(
  client: S3Client,
  bucket: string,
  statePrefix: string,
  chunk: number,
): Promise<RestoreEntry[]> {
  const text = (await getState(client, bucket, restorePlanKey(statePrefix, chunk))).toString();
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as RestoreEntry);
}

const GLOB_OPTIONS: picomatch.PicomatchOptions = {
  dot: true,
  windows: false,
  strictBrackets: true,
  debug: true,
};

function compile(field: string, patterns: string[] | undefined): picomatch.Matcher[] {
  return (patterns ?? []).map((pattern, i) => {
    try {
      return picomatch(pattern, GLOB_OPTIONS);
    } catch (err) {
      throw new RequestError(
        `${field}[${i}]`,
        `${JSON.stringify(pattern)} is not a glob picomatch can read (${(err as Error).message}): fix the pattern`,
      );
    }
  });
}

/** The selection as a test on entry names; throws RequestError for a pattern that does not parse. */
export function compileRestoreSelection(request: RestoreRequest): (name: string) => boolean {
  const { names, include, exclude } = request.select ?? {};
  if (names) {
    const wanted = new Set(names);
    return (name) => wanted.has(name);
  }
  const includes = compile('select.include', include);
  const excludes = compile('select.exclude', exclude);
  return (name) =>
    (includes.length === 0 || includes.some((m) => m(name))) && !excludes.some((m) => m(name));
}

/** An entry name that cannot become a key under the prefix (climbs out, absolute, backslash). */
function unsafeName(name: string): string | undefined {
  if (name.startsWith('/')) return 'is absolute';
  if (name.includes('\\')) return 'contains "\\"';
  if (name.split('/').includes('..')) return 'has a ".." segment';
  return undefined;
}

async function headArchive(
  client: S3Client,
  request: RestoreRequest,
): Promise<SizedVersion & { etag: string }> {
  const { bucket, key } = request.archive;
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { bucket, key, size: head.ContentLength ?? 0, etag: head.ETag ?? '' };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NotFound' || name === 'NoSuchKey') {
      throw RunFailure.nonRetryable(
        `archive.key: s3://${bucket}/${key} does not exist: check archive.bucket and archive.key (and archive.profile)`,
        'ArchiveNotFound',
        { field: 'archive.key' },
      );
    }
    throw err;
  }
}

/** Reads the central directory, writes the selected entries as plan chunks. */
export async function planRestore(input: PlanRestoreInput): Promise<PlanRestoreOutput> {
  const { request, statePrefix } = input;
  const ctx = currentAttempt();
  const profiles = [{ profile: request.archive.profile }, { profile: request.destination.profile }];
  return withS3Clients(profiles, async ([src, dst]) => {
    try {
      const selected = checkedRequest(() => compileRestoreSelection(request));
      const archive = await headArchive(src, request);
      const reader = new S3RangeReader(src, archive);
      let zip: yauzl.ZipFile;
      try {
        zip = await openZip(reader);
      } catch (err) {
        throw RunFailure.nonRetryable(
          `archive.key: s3://${archive.bucket}/${archive.key} is not a ZIP archive a reader accepts (${(err as Error).message}): check the key`,
          'InvalidArchive',
          { field: 'archive.key' },
        );
      }
      const manifest = await openManifest(src, archive.bucket, archive.key);
      const prefix = request.destination.prefix ?? '';
      const found = new Set<string>();
      const out = { chunks: 0, entries: 0, bytes: 0, directories: 0 };
      let lines: string[] = [];
      const flush = async (): Promise<void> => {
        if (lines.length === 0) return;
        await putState(
          dst,
          request.destination.bucket,
          restorePlanKey(statePrefix, out.chunks),
          lines.join('\n'),
        );
        out.chunks += 1;
        lines = [];
      };
      let index = 0;
      try {
        for (;;) {
          const entry = await nextEntry(zip).catch((err: Error) => {
            throw RunFailure.nonRetryable(
              `archive.key: central directory record ${index + 1} of s3://${archive.bucket}/${archive.key} cannot be read (${err.message})`,
              'InvalidArchive',
              { field: 'archive.key' },
            );
          });
          if (!entry) break;
          index += 1;
          if (index % 1000 === 0) ctx.heartbeat({ entriesRead: index });
          ctx.signal.throwIfAborted();
          const name = entry.fileName;
          if (manifest) {
            const line = await manifest.next();
            const m = line.done ? undefined : line.value;
            if (
              !m ||
              m.name !== name ||
              m.size !== entry.uncompressedSize ||
              m.compressedSize !== entry.compressedSize ||
              parseInt(m.crc32, 16) !== entry.crc32 ||
              m.offset !== entry.relativeOffsetOfLocalHeader
            ) {
              throw RunFailure.nonRetryable(
                `archive.key: entry ${index} "${name}" of s3://${archive.bucket}/${archive.key} does not match line ${index} of its manifest (name, sizes, CRC-32 or offset): run "zipflow verify" on it`,
                'ArchiveMismatch',
                { field: 'archive.key', entry: name },
              );
            }
          }
          if (!selected(name)) continue;
          found.add(name);
          if (name.endsWith('/')) {
            out.directories += 1;
            continue;
          }
          const problem = unsafeName(name);
          if (problem) {
            throw RunFailure.nonRetryable(
              `entry "${name}" ${problem}, so it makes no key under destination.prefix: leave it out with select.exclude`,
              'InvalidEntry',
              { field: 'select', entry: name },
            );
          }
          if (
            entry.isEncrypted() ||
            (entry.compressionMethod !== METHOD_STORE && entry.compressionMethod !== METHOD_DEFLATE)
          ) {
            throw RunFailure.nonRetryable(
              `entry "${name}" is ${entry.isEncrypted() ? 'encrypted' : `compressed with method ${entry.compressionMethod}`}; restore reads STORE and DEFLATE entries only: leave it out with select.exclude`,
              'UnsupportedEntry',
              { field: 'select', entry: name },
            );
          }
          const key = prefix + name;
          if (Buffer.byteLength(key) > 1024) {
            throw RunFailure.nonRetryable(
              `destination.prefix: "${key}" would be longer than an S3 key (1,024 bytes): use a shorter prefix`,
              'InvalidRequest',
              { field: 'destination.prefix' },
            );
          }
          const planned: RestoreEntry = {
            name,
            key,
            offset: entry.relativeOffsetOfLocalHeader,
            compressedSize: entry.compressedSize,
            size: entry.uncompressedSize,
            crc32: entry.crc32,
            method: entry.compressionMethod,
            mtime: entry.getLastModDate({ timezone: 'UTC' }).getTime(),
          };
          lines.push(JSON.stringify(planned));
          out.entries += 1;
          out.bytes += planned.size;
          if (lines.length >= RESTORE_CHUNK_ENTRIES) await flush();
        }
        await flush();
      } finally {
        zip.close();
      }
      const names = request.select?.names;
      const missing = names?.filter((n) => !found.has(n)) ?? [];
      if (missing.length > 0) {
        throw RunFailure.nonRetryable(
          `select.names: "${missing[0]}"${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''} is not an entry of s3://${archive.bucket}/${archive.key}: fix the name (entry names are as in the archive, e.g. "logs/a.txt")`,
          'EntryNotFound',
          { field: 'select.names', names: missing.slice(0, 10) },
        );
      }
      if (out.entries === 0 && out.directories === 0) {
        throw RunFailure.nonRetryable(
          `select: no entry of s3://${archive.bucket}/${archive.key} (${index} entries) matches: check select.include and select.exclude`,
          'EmptySelection',
          { field: 'select' },
        );
      }
      return {
        archive,
        ...out,
        manifestChecked: manifest !== undefined,
        retries: attemptRetries([src, dst]),
      };
    } catch (err) {
      throw restoreFailure(err, request);
    }
  });
}
