/**
 * Byte layouts of the per-entry records. Field order and widths follow APPNOTE 6.3.x;
 * the choices inside them (which flags, which extra fields, when ZIP64) follow yazl 3.3's
 * streaming path so archives match it byte for byte.
 */
import {
  CENTRAL_DIRECTORY_RECORD_FIXED_SIZE,
  CENTRAL_DIRECTORY_RECORD_SIGNATURE,
  DATA_DESCRIPTOR_SIGNATURE,
  DATA_DESCRIPTOR_SIZE,
  EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE,
  EXTENDED_TIMESTAMP_FLAGS,
  EXTENDED_TIMESTAMP_TAG,
  FLAG_DATA_DESCRIPTOR,
  FLAG_UTF8,
  LOCAL_FILE_HEADER_FIXED_SIZE,
  LOCAL_FILE_HEADER_SIGNATURE,
  LOCAL_ZIP64_EXTRA_FIELD_SIZE,
  METHOD_DEFLATE,
  METHOD_STORE,
  UINT32_MAX,
  VERSION_MADE_BY,
  VERSION_NEEDED_DEFAULT,
  VERSION_NEEDED_ZIP64,
  ZIP64_DATA_DESCRIPTOR_SIZE,
  ZIP64_ENTRY_THRESHOLD,
  ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE,
  ZIP64_EXTRA_TAG,
} from './constants';
import type { NormalizedEntrySpec, PreparedEntry } from './spec';
import { dosDateTime, unixSeconds } from './time';

/** What the central-directory record needs to know once the data has been written. */
export interface EntryFacts {
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export function writeUInt64LE(buffer: Buffer, value: number, offset: number): void {
  buffer.writeBigUInt64LE(BigInt(value), offset);
}

/** ZIP64 for one entry: forced, or a size or the header offset does not fit 32 bits. */
export function entryNeedsZip64(forceZip64: boolean, facts: Omit<EntryFacts, 'crc32'>): boolean {
  return (
    forceZip64 ||
    facts.uncompressedSize > ZIP64_ENTRY_THRESHOLD ||
    facts.compressedSize > ZIP64_ENTRY_THRESHOLD ||
    facts.localHeaderOffset > ZIP64_ENTRY_THRESHOLD
  );
}

/**
 * Directories have known (zero) sizes and no data. A file's CRC and sizes follow its data in a
 * data descriptor, unless its spec asks for them in the local header (dataDescriptor false).
 */
export function usesDataDescriptor(spec: NormalizedEntrySpec): boolean {
  return !spec.directory && spec.dataDescriptor;
}

/** CRC and sizes written into a local header (all zero while they follow in a descriptor). */
export type HeaderFacts = Omit<EntryFacts, 'localHeaderOffset'>;

/**
 * A local header with CRC and sizes needs the ZIP64 extra field when a size does not fit 32
 * bits (APPNOTE 4.5.3: then it holds both sizes). An offset past 4 GiB or forceZip64 alone
 * does not: the local header has no offset, and its sizes fit (yazl's addBuffer agrees).
 */
export function localHeaderNeedsZip64(
  spec: NormalizedEntrySpec,
  sizes: Pick<EntryFacts, 'compressedSize' | 'uncompressedSize'>,
): boolean {
  return (
    !usesDataDescriptor(spec) &&
    (sizes.uncompressedSize > ZIP64_ENTRY_THRESHOLD || sizes.compressedSize > ZIP64_ENTRY_THRESHOLD)
  );
}

function generalPurposeFlags(spec: NormalizedEntrySpec): number {
  return FLAG_UTF8 | (usesDataDescriptor(spec) ? FLAG_DATA_DESCRIPTOR : 0);
}

function compressionMethod(spec: NormalizedEntrySpec): number {
  return spec.compression === 'deflate' ? METHOD_DEFLATE : METHOD_STORE;
}

/** Local header length; `zip64` when it carries the ZIP64 extra (localHeaderNeedsZip64). */
export function localFileHeaderLength(nameLength: number, zip64 = false): number {
  return LOCAL_FILE_HEADER_FIXED_SIZE + nameLength + (zip64 ? LOCAL_ZIP64_EXTRA_FIELD_SIZE : 0);
}

const NO_FACTS: HeaderFacts = { crc32: 0, compressedSize: 0, uncompressedSize: 0 };

/**
 * APPNOTE 4.3.7 local file header. With a data descriptor (bit 3) CRC and sizes are zero and
 * follow the data; directories have zero ones; otherwise `facts` holds them. The only extra
 * field is ZIP64's (APPNOTE 4.5.3), when a size does not fit 32 bits: both sizes, the 32-bit
 * fields 0xffffffff.
 */
export function localFileHeader(entry: PreparedEntry, facts: HeaderFacts = NO_FACTS): Buffer {
  const { spec, nameBytes } = entry;
  const { date, time } = dosDateTime(spec.mtime);
  const known = spec.directory ? NO_FACTS : usesDataDescriptor(spec) ? NO_FACTS : facts;
  const zip64 = localHeaderNeedsZip64(spec, known);
  const b = Buffer.alloc(localFileHeaderLength(nameBytes.length, zip64));
  b.writeUInt32LE(LOCAL_FILE_HEADER_SIGNATURE, 0); // local file header signature
  b.writeUInt16LE(zip64 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED_DEFAULT, 4); // version needed to extract
  b.writeUInt16LE(generalPurposeFlags(spec), 6); // general purpose bit flag (4.4.4)
  b.writeUInt16LE(compressionMethod(spec), 8); // compression method (4.4.5)
  b.writeUInt16LE(time, 10); // last mod file time (4.4.6)
  b.writeUInt16LE(date, 12); // last mod file date
  b.writeUInt32LE(known.crc32, 14); // crc-32
  b.writeUInt32LE(zip64 ? UINT32_MAX : known.compressedSize, 18); // compressed size
  b.writeUInt32LE(zip64 ? UINT32_MAX : known.uncompressedSize, 22); // uncompressed size
  b.writeUInt16LE(nameBytes.length, 26); // file name length
  b.writeUInt16LE(zip64 ? LOCAL_ZIP64_EXTRA_FIELD_SIZE : 0, 28); // extra field length
  nameBytes.copy(b, LOCAL_FILE_HEADER_FIXED_SIZE); // file name
  if (zip64) {
    // APPNOTE 4.5.3: tag 0x0001, data size, original size, compressed size (no offset here)
    const at = LOCAL_FILE_HEADER_FIXED_SIZE + nameBytes.length;
    b.writeUInt16LE(ZIP64_EXTRA_TAG, at);
    b.writeUInt16LE(LOCAL_ZIP64_EXTRA_FIELD_SIZE - 4, at + 2);
    writeUInt64LE(b, known.uncompressedSize, at + 4);
    writeUInt64LE(b, known.compressedSize, at + 12);
  }
  return b;
}

export function dataDescriptorLength(zip64: boolean): number {
  return zip64 ? ZIP64_DATA_DESCRIPTOR_SIZE : DATA_DESCRIPTOR_SIZE;
}

/** APPNOTE 4.3.9 data descriptor, with the optional signature; 8-byte sizes when ZIP64 (4.3.9.2). */
export function dataDescriptor(
  facts: Omit<EntryFacts, 'localHeaderOffset'>,
  zip64: boolean,
): Buffer {
  const b = Buffer.alloc(dataDescriptorLength(zip64));
  b.writeUInt32LE(DATA_DESCRIPTOR_SIGNATURE, 0); // signature (4.3.9.3)
  b.writeUInt32LE(facts.crc32, 4); // crc-32
  if (zip64) {
    writeUInt64LE(b, facts.compressedSize, 8); // compressed size, 8 bytes
    writeUInt64LE(b, facts.uncompressedSize, 16); // uncompressed size, 8 bytes
  } else {
    b.writeUInt32LE(facts.compressedSize, 8); // compressed size
    b.writeUInt32LE(facts.uncompressedSize, 12); // uncompressed size
  }
  return b;
}

/**
 * Reads an APPNOTE 4.3.9 data descriptor written with its signature (as `dataDescriptor`
 * writes it); undefined when the bytes do not start with the signature.
 */
export function readDataDescriptor(
  b: Buffer,
  zip64: boolean,
): Omit<EntryFacts, 'localHeaderOffset'> | undefined {
  if (b.length < dataDescriptorLength(zip64) || b.readUInt32LE(0) !== DATA_DESCRIPTOR_SIGNATURE) {
    return undefined;
  }
  return zip64
    ? {
        crc32: b.readUInt32LE(4),
        compressedSize: Number(b.readBigUInt64LE(8)),
        uncompressedSize: Number(b.readBigUInt64LE(16)),
      }
    : {
        crc32: b.readUInt32LE(4),
        compressedSize: b.readUInt32LE(8),
        uncompressedSize: b.readUInt32LE(12),
      };
}

export function centralDirectoryRecordLength(
  nameLength: number,
  commentLength: number,
  zip64: boolean,
): number {
  return (
    CENTRAL_DIRECTORY_RECORD_FIXED_SIZE +
    nameLength +
    EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE +
    (zip64 ? ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE : 0) +
    commentLength
  );
}

/**
 * APPNOTE 4.3.12 central directory file header, followed by the Info-ZIP "UT" extended
 * timestamp (APPNOTE 4.6.1, tag 0x5455) and, for ZIP64 entries, the ZIP64 extended
 * information extra field (APPNOTE 4.5.3) carrying all three 8-byte values.
 */
export function centralDirectoryRecord(entry: PreparedEntry, facts: EntryFacts): Buffer {
  const { spec, nameBytes, commentBytes } = entry;
  const zip64 = entryNeedsZip64(spec.forceZip64, facts);
  const { date, time } = dosDateTime(spec.mtime);
  const extraLength =
    EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE + (zip64 ? ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE : 0);
  const b = Buffer.alloc(
    centralDirectoryRecordLength(nameBytes.length, commentBytes.length, zip64),
  );

  b.writeUInt32LE(CENTRAL_DIRECTORY_RECORD_SIGNATURE, 0); // central file header signature
  b.writeUInt16LE(VERSION_MADE_BY, 4); // version made by (4.4.2)
  b.writeUInt16LE(zip64 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED_DEFAULT, 6); // version needed (4.4.3)
  b.writeUInt16LE(generalPurposeFlags(spec), 8); // general purpose bit flag
  b.writeUInt16LE(compressionMethod(spec), 10); // compression method
  b.writeUInt16LE(time, 12); // last mod file time
  b.writeUInt16LE(date, 14); // last mod file date
  b.writeUInt32LE(facts.crc32, 16); // crc-32
  // ZIP64: 0xffffffff means "look in the ZIP64 extra field" (4.4.8, 4.4.9, 4.4.16)
  b.writeUInt32LE(zip64 ? UINT32_MAX : facts.compressedSize, 20); // compressed size
  b.writeUInt32LE(zip64 ? UINT32_MAX : facts.uncompressedSize, 24); // uncompressed size
  b.writeUInt16LE(nameBytes.length, 28); // file name length
  b.writeUInt16LE(extraLength, 30); // extra field length
  b.writeUInt16LE(commentBytes.length, 32); // file comment length
  b.writeUInt16LE(0, 34); // disk number start
  b.writeUInt16LE(0, 36); // internal file attributes
  b.writeUInt32LE((spec.mode << 16) >>> 0, 38); // external file attributes: UNIX mode in the high word
  b.writeUInt32LE(zip64 ? UINT32_MAX : facts.localHeaderOffset, 42); // relative offset of local header

  let at = CENTRAL_DIRECTORY_RECORD_FIXED_SIZE;
  at += nameBytes.copy(b, at); // file name

  // Info-ZIP extended timestamp: tag, data size, flags (mtime|atime as Info-ZIP's zip
  // sets them; the central copy holds only mtime), mtime as signed 32-bit UNIX seconds.
  b.writeUInt16LE(EXTENDED_TIMESTAMP_TAG, at);
  b.writeUInt16LE(EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE - 4, at + 2);
  b.writeUInt8(EXTENDED_TIMESTAMP_FLAGS, at + 4);
  b.writeInt32LE(unixSeconds(spec.mtime), at + 5);
  at += EXTENDED_TIMESTAMP_EXTRA_FIELD_SIZE;

  if (zip64) {
    // APPNOTE 4.5.3: tag 0x0001, data size, original size, compressed size, header offset
    b.writeUInt16LE(ZIP64_EXTRA_TAG, at);
    b.writeUInt16LE(ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE - 4, at + 2);
    writeUInt64LE(b, facts.uncompressedSize, at + 4);
    writeUInt64LE(b, facts.compressedSize, at + 12);
    writeUInt64LE(b, facts.localHeaderOffset, at + 20);
    at += ZIP64_EXTENDED_INFORMATION_EXTRA_FIELD_SIZE;
  }

  commentBytes.copy(b, at); // file comment
  return b;
}
