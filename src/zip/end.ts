/**
 * The end of the archive: the spilled central-directory records streamed back, then the
 * ZIP64 end of central directory record + locator (when needed) and the end of central
 * directory record. Nothing here holds more than one record buffer at a time.
 */
import {
  END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE,
  END_OF_CENTRAL_DIRECTORY_RECORD_SIZE,
  UINT16_MAX,
  UINT32_MAX,
  VERSION_MADE_BY,
  VERSION_NEEDED_ZIP64,
  ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE,
  ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE,
  ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE,
  ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE,
} from './constants';
import { ZipInputError } from './errors';
import { writeUInt64LE } from './records';

/** What the end records need: everything is known once the last entry has been written. */
export interface ArchiveTotals {
  entryCount: number;
  /** Archive offset where the first central-directory record starts (= bytes of entries). */
  centralDirectoryOffset: number;
  /** Sum of the lengths of all central-directory records. */
  centralDirectorySize: number;
}

export interface EndOptions {
  /**
   * Archive comment. A string must be printable ASCII (identical in CP437, which yazl
   * uses, and UTF-8); pass bytes for anything else.
   */
  comment?: string | Uint8Array;
  /** Write the ZIP64 end records even when not needed (yazl end({forceZip64Format})). */
  forceZip64?: boolean;
}

const EOCD_SIGNATURE_BYTES = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

/** Validates and encodes the archive comment (APPNOTE 4.3.16: at most 65535 bytes). */
export function archiveCommentBytes(comment: string | Uint8Array | undefined): Buffer {
  if (comment === undefined) return Buffer.alloc(0);
  let bytes: Buffer;
  if (typeof comment === 'string') {
    if (!/^[\x20-\x7e]*$/.test(comment)) {
      throw new ZipInputError(
        'comment',
        'as a string must be printable ASCII (0x20-0x7e); pass a Buffer with the exact bytes (e.g. UTF-8) for other text',
      );
    }
    bytes = Buffer.from(comment, 'latin1');
  } else if (comment instanceof Uint8Array) {
    bytes = Buffer.from(comment.buffer, comment.byteOffset, comment.byteLength);
  } else {
    throw new ZipInputError('comment', 'must be a string or a Buffer');
  }
  if (bytes.length > UINT16_MAX) {
    throw new ZipInputError(
      'comment',
      `is ${bytes.length} bytes; the archive comment limit is 65535 (APPNOTE 4.3.16), shorten it`,
    );
  }
  // A reader scanning backwards for the end record could stop inside the comment.
  if (bytes.includes(EOCD_SIGNATURE_BYTES)) {
    throw new ZipInputError(
      'comment',
      'contains the end-of-central-directory signature "PK\\x05\\x06", which makes the archive ambiguous; remove it',
    );
  }
  return bytes;
}

function validateTotals(totals: ArchiveTotals): void {
  for (const key of ['entryCount', 'centralDirectoryOffset', 'centralDirectorySize'] as const) {
    const v = totals[key];
    if (!Number.isSafeInteger(v) || v < 0)
      throw new ZipInputError(key, `must be a non-negative integer, got ${String(v)}`);
  }
}

/** Which end-record fields overflow their 16/32-bit slots (yazl's rules, per field). */
function overflow(
  totals: ArchiveTotals,
  force: boolean,
): { entries: boolean; size: boolean; offset: boolean } {
  return {
    entries: force || totals.entryCount >= UINT16_MAX,
    size: force || totals.centralDirectorySize >= UINT32_MAX,
    offset: force || totals.centralDirectoryOffset >= UINT32_MAX,
  };
}

export function endRecordsNeedZip64(totals: ArchiveTotals, forceZip64 = false): boolean {
  const o = overflow(totals, forceZip64);
  return o.entries || o.size || o.offset;
}

/** Bytes after the central directory: [ZIP64 EOCD record + locator] + EOCD record + comment. */
export function endRecordsLength(
  totals: ArchiveTotals,
  commentLength: number,
  forceZip64 = false,
): number {
  const zip64 = endRecordsNeedZip64(totals, forceZip64);
  return (
    (zip64
      ? ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE + ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE
      : 0) +
    END_OF_CENTRAL_DIRECTORY_RECORD_SIZE +
    commentLength
  );
}

/** APPNOTE 4.3.14 ZIP64 end of central directory record (version 1, no extensible data). */
export function zip64EndOfCentralDirectoryRecord(totals: ArchiveTotals): Buffer {
  const b = Buffer.alloc(ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE);
  b.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE, 0); // signature
  writeUInt64LE(b, ZIP64_END_OF_CENTRAL_DIRECTORY_RECORD_SIZE - 12, 4); // size of the rest of this record (4.3.14.1)
  b.writeUInt16LE(VERSION_MADE_BY, 12); // version made by
  b.writeUInt16LE(VERSION_NEEDED_ZIP64, 14); // version needed to extract
  b.writeUInt32LE(0, 16); // number of this disk
  b.writeUInt32LE(0, 20); // disk with the start of the central directory
  writeUInt64LE(b, totals.entryCount, 24); // entries in the central directory on this disk
  writeUInt64LE(b, totals.entryCount, 32); // total entries in the central directory
  writeUInt64LE(b, totals.centralDirectorySize, 40); // size of the central directory
  writeUInt64LE(b, totals.centralDirectoryOffset, 48); // offset of start of central directory
  return b;
}

/** APPNOTE 4.3.15 ZIP64 end of central directory locator. */
export function zip64EndOfCentralDirectoryLocator(zip64RecordOffset: number): Buffer {
  const b = Buffer.alloc(ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIZE);
  b.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY_LOCATOR_SIGNATURE, 0); // signature
  b.writeUInt32LE(0, 4); // disk with the start of the ZIP64 end of central directory
  writeUInt64LE(b, zip64RecordOffset, 8); // relative offset of the ZIP64 EOCD record
  b.writeUInt32LE(1, 16); // total number of disks
  return b;
}

/**
 * APPNOTE 4.3.16 end of central directory record. A field that overflows (or every
 * field, when forced) holds its all-ones marker and the value lives in the ZIP64 record.
 */
export function endOfCentralDirectoryRecord(
  totals: ArchiveTotals,
  comment: Buffer,
  forceZip64 = false,
): Buffer {
  const o = overflow(totals, forceZip64);
  const b = Buffer.alloc(END_OF_CENTRAL_DIRECTORY_RECORD_SIZE + comment.length);
  const entries = o.entries ? UINT16_MAX : totals.entryCount;
  b.writeUInt32LE(END_OF_CENTRAL_DIRECTORY_RECORD_SIGNATURE, 0); // signature
  b.writeUInt16LE(0, 4); // number of this disk
  b.writeUInt16LE(0, 6); // disk with the start of the central directory
  b.writeUInt16LE(entries, 8); // entries in the central directory on this disk
  b.writeUInt16LE(entries, 10); // total entries in the central directory
  b.writeUInt32LE(o.size ? UINT32_MAX : totals.centralDirectorySize, 12); // size of the central directory
  b.writeUInt32LE(o.offset ? UINT32_MAX : totals.centralDirectoryOffset, 16); // offset of start of central directory
  b.writeUInt16LE(comment.length, 20); // .ZIP file comment length
  comment.copy(b, 22); // .ZIP file comment
  return b;
}

/** All end records after the central directory, as one buffer. */
export function endRecords(totals: ArchiveTotals, comment: Buffer, forceZip64 = false): Buffer {
  const eocd = endOfCentralDirectoryRecord(totals, comment, forceZip64);
  if (!endRecordsNeedZip64(totals, forceZip64)) return eocd;
  const zip64RecordOffset = totals.centralDirectoryOffset + totals.centralDirectorySize;
  return Buffer.concat([
    zip64EndOfCentralDirectoryRecord(totals),
    zip64EndOfCentralDirectoryLocator(zip64RecordOffset),
    eocd,
  ]);
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk)
    ? chunk
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Streams the central directory (the records as spilled, in entry order, in any chunking)
 * followed by the end records. The byte count of `records` must equal
 * totals.centralDirectorySize — a mismatch means records were lost or duplicated.
 * Arguments are validated when called, before anything is read.
 */
export function endOfArchive(
  records: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  totals: ArchiveTotals,
  options: EndOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  validateTotals(totals);
  const comment = archiveCommentBytes(options.comment);
  const force = options.forceZip64 === true;
  return (async function* () {
    let seen = 0;
    for await (const chunk of records) {
      if (chunk.byteLength === 0) continue;
      seen += chunk.byteLength;
      if (seen > totals.centralDirectorySize) break;
      yield asBuffer(chunk);
    }
    if (seen !== totals.centralDirectorySize) {
      throw new ZipInputError(
        'records',
        `${seen > totals.centralDirectorySize ? 'at least' : 'only'} ${seen} bytes of central-directory records, but totals say ${totals.centralDirectorySize}; stream back exactly the records of the entries written`,
      );
    }
    yield endRecords(totals, comment, force);
  })();
}
