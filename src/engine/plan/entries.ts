import type { ListedObject } from '../../s3/objects';
import type { ArchiveRequest } from '../../shared/request';
import type { EntryResult, EntrySpec } from '../../zip';
import { entryName } from './select';

/** A "folder/" key of size 0 is a directory entry. */
export function isDirectoryObject(object: ListedObject): boolean {
  return object.key.endsWith('/') && object.size === 0;
}

/**
 * The entry a listed object becomes, as STORE: the name inside the archive, mtime from
 * LastModified (never the clock: invariant 4), the listed size; a "folder/" key of size 0
 * is a directory. The streaming path may switch a file to DEFLATE.
 */
export function entrySpecOf(
  request: ArchiveRequest,
  object: ListedObject,
): EntrySpec & { name: string } {
  const name = object.name ?? entryName(request.source.prefix, object.key);
  const base = { mtime: object.lastModified, size: object.size };
  if (isDirectoryObject(object))
    return { ...base, name: name.replace(/\/+$/, ''), directory: true };
  return { ...base, name, compression: 'store', level: request.compression?.level };
}

/**
 * Streamed objects up to this size are read whole before their entry's header, which then
 * carries their CRC-32 and sizes (localHeaders "auto" and "known"). Read-ahead fetches such
 * small objects whole anyway; the encoder holds one at a time.
 */
export const WHOLE_ENTRY_MAX_BYTES = 1024 * 1024;

/**
 * Whether a streamed object's entry has CRC and sizes in its local header rather than a data
 * descriptor: decided from the request and the planned size alone, so the same plan gives
 * the same bytes and a resumed run makes the same choice.
 */
export function knownLocalHeader(request: ArchiveRequest, object: ListedObject): boolean {
  return (request.localHeaders ?? 'auto') !== 'descriptor' && object.size <= WHOLE_ENTRY_MAX_BYTES;
}

/**
 * The entry of a listed object in a layout placed before any data is read (parallel and
 * server-side copy runs): STORE, with CRC-32 and sizes in the local header of an object read
 * whole (knownLocalHeader), else a data descriptor. Decided from the plan alone, so every
 * range and every attempt places the same bytes, and they equal the streaming writer's.
 */
export function laidOutSpecOf(
  request: ArchiveRequest,
  object: ListedObject,
): EntrySpec & { name: string } {
  const spec = entrySpecOf(request, object);
  return spec.directory ? spec : { ...spec, dataDescriptor: !knownLocalHeader(request, object) };
}

/**
 * Whether a larger streamed object may still get its CRC-32 and sizes in its local header: a
 * STORE entry (its compressed size is its listed size) whose CRC-32 S3 stores. The stored
 * checksum belongs to the object version the plan pinned, so the choice does not depend on
 * timing: a resumed run asks again and gets the same answer.
 */
export function storedCrc32Candidate(
  request: ArchiveRequest,
  object: ListedObject,
  compression: 'store' | 'deflate',
): boolean {
  return (
    (request.localHeaders ?? 'auto') !== 'descriptor' &&
    compression === 'store' &&
    !knownLocalHeader(request, object)
  );
}

/** The manifest line of a finished entry: one JSON object per line of <key>.manifest.jsonl. */
export function manifestLine(e: EntryResult, object: ListedObject): string {
  return JSON.stringify({
    name: e.name,
    key: object.key,
    etag: object.etag,
    size: e.uncompressedSize,
    compressedSize: e.compressedSize,
    crc32: e.crc32.toString(16).padStart(8, '0'),
    offset: e.localHeaderOffset,
    dataDescriptor: e.dataDescriptor,
  });
}
