/**
 * Entry specs: what the caller says about an entry, and the validation that turns it
 * into the normalized, JSON-serializable form the encoder and checkpoints carry.
 */
import {
  DEFAULT_DEFLATE_LEVEL,
  DEFAULT_DIRECTORY_MODE,
  DEFAULT_FILE_MODE,
  UINT16_MAX,
} from './constants';
import { ZipInputError } from './errors';
import { unsafeNameReason } from './names';

export type Compression = 'store' | 'deflate';

export interface EntrySpec {
  /** Path inside the archive, `/`-separated, relative. Directories get a trailing `/`. */
  name: string;
  /** Last-modified time, epoch milliseconds (e.g. S3 LastModified). */
  mtime: number;
  /** UNIX mode incl. file type bits (default 0o100664, directories 0o40775). */
  mode?: number;
  /** Default 'deflate' (as yazl). Ignored for directories. */
  compression?: Compression;
  /** zlib level 1..9 for 'deflate' (default 6). */
  level?: number;
  /** Declared uncompressed size; checked against the bytes fed. Needed for layout. */
  size?: number | null;
  /** Central-directory file comment, UTF-8. */
  comment?: string;
  directory?: boolean;
  /** Write ZIP64 data descriptor and extra field even when not needed (yazl forceZip64Format). */
  forceZip64?: boolean;
  /**
   * Default true: CRC-32 and sizes follow the data in a data descriptor (general purpose bit 3),
   * as yazl's addReadStream. false: the local header carries them and there is no descriptor
   * (yazl's addBuffer), so streaming readers can read the entry. Without `crc32` the encoder
   * then holds the whole source in memory before the header: give it small sources only.
   */
  dataDescriptor?: boolean;
  /**
   * The entry's CRC-32, known before its data is read (e.g. stored by S3): with
   * dataDescriptor false, a STORE entry with a declared size is streamed with this CRC in its
   * header, and the data is checked against it. Needs dataDescriptor false.
   */
  crc32?: number | null;
}

/** A validated spec with defaults filled in; plain JSON. */
export interface NormalizedEntrySpec {
  name: string;
  mtime: number;
  mode: number;
  compression: Compression;
  level: number;
  size: number | null;
  comment: string;
  directory: boolean;
  forceZip64: boolean;
  /** false: CRC and sizes in the local header, no data descriptor (always false for directories). */
  dataDescriptor: boolean;
  crc32: number | null;
}

/** A normalized spec plus its encoded byte strings, for the record writers. */
export interface PreparedEntry {
  spec: NormalizedEntrySpec;
  nameBytes: Buffer;
  commentBytes: Buffer;
}

// Largest value written into an 8-byte field that a JS number still holds exactly.
const MAX_SIZE = Number.MAX_SAFE_INTEGER;
// A lone UTF-16 surrogate has no UTF-8 encoding (Buffer would silently write U+FFFD).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// ECMAScript time value range.
const MAX_TIME_MS = 8.64e15;

export function validateName(name: unknown, directory: boolean): string {
  if (typeof name !== 'string' || name === '') {
    throw new ZipInputError(
      'name',
      'must be a non-empty string; give the path of the entry inside the archive',
    );
  }
  if (LONE_SURROGATE.test(name)) {
    throw new ZipInputError(
      'name',
      `contains a lone UTF-16 surrogate and cannot be encoded as UTF-8: ${JSON.stringify(name)}`,
    );
  }
  if (name.includes('\0')) {
    throw new ZipInputError('name', `contains a NUL character; remove it: ${JSON.stringify(name)}`);
  }
  if (name.includes('\\')) {
    throw new ZipInputError(
      'name',
      `contains a backslash; use "/" as the path separator: ${JSON.stringify(name)}`,
    );
  }
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    throw new ZipInputError(
      'name',
      `is absolute; strip the leading "/" or drive letter: ${JSON.stringify(name)}`,
    );
  }
  if (name.split('/').includes('..')) {
    throw new ZipInputError(
      'name',
      `contains a ".." segment, which would extract outside the target; remove it: ${JSON.stringify(name)}`,
    );
  }
  const unsafe = unsafeNameReason(name);
  if (unsafe) throw new ZipInputError('name', `${unsafe}: ${JSON.stringify(name)}`);
  let normalized = name;
  if (directory) {
    if (!normalized.endsWith('/')) normalized += '/';
  } else if (normalized.endsWith('/')) {
    throw new ZipInputError(
      'name',
      `ends with "/" but the entry is a file; drop the "/" or set directory: true: ${JSON.stringify(name)}`,
    );
  }
  if (Buffer.byteLength(normalized, 'utf8') > UINT16_MAX) {
    throw new ZipInputError(
      'name',
      `is ${Buffer.byteLength(normalized, 'utf8')} bytes in UTF-8; the limit is 65535 (APPNOTE 4.4.10), shorten it`,
    );
  }
  return normalized;
}

export function normalizeEntrySpec(input: EntrySpec): NormalizedEntrySpec {
  if (input === null || typeof input !== 'object')
    throw new ZipInputError('spec', 'must be an object');
  const directory = input.directory === true;
  const name = validateName(input.name, directory);

  const mtime = input.mtime;
  if (typeof mtime !== 'number' || !Number.isInteger(mtime) || Math.abs(mtime) > MAX_TIME_MS) {
    throw new ZipInputError(
      'mtime',
      `must be an integer number of epoch milliseconds (got ${String(mtime)}); pass Date.getTime() of the source's last-modified time`,
    );
  }

  const mode = input.mode ?? (directory ? DEFAULT_DIRECTORY_MODE : DEFAULT_FILE_MODE);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0xffff) {
    throw new ZipInputError(
      'mode',
      `must be an integer 0..0o177777 (UNIX type and permission bits), got ${String(mode)}`,
    );
  }

  let compression: Compression = input.compression ?? 'deflate';
  if (compression !== 'store' && compression !== 'deflate') {
    throw new ZipInputError(
      'compression',
      `must be 'store' or 'deflate' (resolve 'auto' with autoCompression first), got ${JSON.stringify(compression)}`,
    );
  }
  let level = input.level ?? DEFAULT_DEFLATE_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new ZipInputError(
      'level',
      `must be an integer 1..9 for deflate (use compression 'store' instead of level 0), got ${String(level)}`,
    );
  }

  let size: number | null = input.size ?? null;
  if (size !== null && (!Number.isInteger(size) || size < 0 || size > MAX_SIZE)) {
    throw new ZipInputError(
      'size',
      `must be a non-negative integer number of bytes, got ${String(size)}`,
    );
  }

  const comment = input.comment ?? '';
  if (typeof comment !== 'string' || LONE_SURROGATE.test(comment)) {
    throw new ZipInputError('comment', 'must be a well-formed string (it is stored as UTF-8)');
  }
  if (Buffer.byteLength(comment, 'utf8') > UINT16_MAX) {
    throw new ZipInputError(
      'comment',
      `is ${Buffer.byteLength(comment, 'utf8')} bytes in UTF-8; the limit is 65535 (APPNOTE 4.4.12), shorten it`,
    );
  }

  const dataDescriptor = !directory && input.dataDescriptor !== false;
  const crc32 = input.crc32 ?? null;
  if (crc32 !== null) {
    if (!Number.isInteger(crc32) || crc32 < 0 || crc32 > 0xffffffff) {
      throw new ZipInputError(
        'crc32',
        `must be an unsigned 32-bit integer (the CRC-32 of the entry's data), got ${String(crc32)}`,
      );
    }
    if (dataDescriptor || compression !== 'store' || size === null) {
      throw new ZipInputError(
        'crc32',
        `entry ${JSON.stringify(name)}: a CRC-32 known in advance goes in the local header of a STORE file with a declared size and dataDescriptor false; set those, or omit crc32`,
      );
    }
  }

  if (directory) {
    if (size !== null && size !== 0) {
      throw new ZipInputError('size', `a directory has no data; omit size or give 0, got ${size}`);
    }
    // A directory entry carries no data: always STORE, size 0 (as yazl addEmptyDirectory).
    compression = 'store';
    level = DEFAULT_DEFLATE_LEVEL;
    size = 0;
  } else if (compression === 'store') {
    level = DEFAULT_DEFLATE_LEVEL;
  }

  return {
    name,
    mtime,
    mode,
    compression,
    level,
    size,
    comment,
    directory,
    forceZip64: input.forceZip64 === true,
    dataDescriptor,
    crc32,
  };
}

export function prepareEntry(spec: NormalizedEntrySpec): PreparedEntry {
  return {
    spec,
    nameBytes: Buffer.from(spec.name, 'utf8'),
    commentBytes: Buffer.from(spec.comment, 'utf8'),
  };
}
