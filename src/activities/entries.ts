import type { ListedObject } from '../s3/objects';
import type { ArchiveRequest } from '../shared/request';
import type { EntryResult, EntrySpec } from '../zip';
import { entryName } from './plan';

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
  if (object.key.endsWith('/') && object.size === 0)
    return { ...base, name: name.replace(/\/+$/, ''), directory: true };
  return { ...base, name, compression: 'store', level: request.compression?.level };
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
  });
}
