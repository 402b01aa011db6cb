/**
 * Layout arithmetic: where every entry of an all-STORE archive (sizes known from the
 * listing) will sit, and how long the archive will be, before any byte is read. A running
 * accumulator, so plans of millions of entries stream through it in O(1) memory.
 * The numbers are the ones ZipEncoder writes (tested against it).
 */
import { CHECKPOINT_FORMAT, validateCheckpoint, type EncoderCheckpoint } from './checkpoint';
import {
  archiveCommentBytes,
  endRecordsLength,
  endRecordsNeedZip64,
  type ArchiveTotals,
  type EndOptions,
} from './end';
import { ZipInputError } from './errors';
import {
  centralDirectoryRecordLength,
  dataDescriptorLength,
  entryNeedsZip64,
  localFileHeaderLength,
  localHeaderNeedsZip64,
  usesDataDescriptor,
} from './records';
import { normalizeEntrySpec, type EntrySpec } from './spec';

export interface EntryLayout {
  /** 0-based entry index in the archive. */
  index: number;
  name: string;
  localHeaderOffset: number;
  /** First byte of the entry data (= the source object's byte 0). */
  dataOffset: number;
  size: number;
  /**
   * Offset of the data descriptor, or null when the entry has none: directories, and entries
   * with CRC and sizes in their local header (dataDescriptor false).
   */
  dataDescriptorOffset: number | null;
  /** First byte after this entry (= next entry's local header offset). */
  end: number;
  zip64: boolean;
  centralDirectoryRecordLength: number;
}

export interface ArchiveLayoutSummary extends ArchiveTotals {
  zip64EndRecords: boolean;
  endRecordsLength: number;
  /** Total archive size in bytes. */
  archiveSize: number;
}

export class ArchiveLayout {
  private position = 0;
  private entryCount = 0;
  private centralDirectorySize = 0;

  /** Continues a layout from an entry-boundary checkpoint (e.g. a later slice of a plan). */
  static fromCheckpoint(checkpoint: EncoderCheckpoint): ArchiveLayout {
    const cp = validateCheckpoint(checkpoint);
    if (cp.entry !== null)
      throw new ZipInputError(
        'checkpoint',
        'lies inside an entry; layouts continue only from entry boundaries',
      );
    const layout = new ArchiveLayout();
    layout.position = cp.position;
    layout.entryCount = cp.entryCount;
    layout.centralDirectorySize = cp.centralDirectorySize;
    return layout;
  }

  /** Places the next entry: a STORE file with a declared size, or a directory. */
  add(input: EntrySpec): EntryLayout {
    const spec = normalizeEntrySpec(input);
    if (!spec.directory && spec.compression !== 'store') {
      throw new ZipInputError(
        'compression',
        `entry ${JSON.stringify(spec.name)} is DEFLATE; only STORE entries have sizes known in advance`,
      );
    }
    if (spec.size === null) {
      throw new ZipInputError(
        'size',
        `entry ${JSON.stringify(spec.name)} has no declared size; layout needs it`,
      );
    }
    const size = spec.size;
    const localHeaderOffset = this.position;
    const nameLength = Buffer.byteLength(spec.name, 'utf8');
    const zip64 = entryNeedsZip64(spec.forceZip64, {
      uncompressedSize: size,
      compressedSize: size,
      localHeaderOffset,
    });
    const sizes = { uncompressedSize: size, compressedSize: size };
    const dataOffset =
      localHeaderOffset + localFileHeaderLength(nameLength, localHeaderNeedsZip64(spec, sizes));
    const dataDescriptorOffset = usesDataDescriptor(spec) ? dataOffset + size : null;
    const end =
      dataDescriptorOffset === null
        ? dataOffset + size
        : dataDescriptorOffset + dataDescriptorLength(zip64);
    const recordLength = centralDirectoryRecordLength(
      nameLength,
      Buffer.byteLength(spec.comment, 'utf8'),
      zip64,
    );

    const layout: EntryLayout = {
      index: this.entryCount,
      name: spec.name,
      localHeaderOffset,
      dataOffset,
      size,
      dataDescriptorOffset,
      end,
      zip64,
      centralDirectoryRecordLength: recordLength,
    };
    this.position = end;
    this.entryCount += 1;
    this.centralDirectorySize += recordLength;
    return layout;
  }

  /** The encoder checkpoint at the current entry boundary: a worker can start writing here. */
  checkpoint(): EncoderCheckpoint {
    return {
      format: CHECKPOINT_FORMAT,
      position: this.position,
      entryCount: this.entryCount,
      centralDirectorySize: this.centralDirectorySize,
      entry: null,
    };
  }

  totals(): ArchiveTotals {
    return {
      entryCount: this.entryCount,
      centralDirectoryOffset: this.position,
      centralDirectorySize: this.centralDirectorySize,
    };
  }

  /** Totals plus the size of the end records and of the whole archive. */
  summary(options: EndOptions = {}): ArchiveLayoutSummary {
    const totals = this.totals();
    const commentLength = archiveCommentBytes(options.comment).length;
    const force = options.forceZip64 === true;
    const endLength = endRecordsLength(totals, commentLength, force);
    return {
      ...totals,
      zip64EndRecords: endRecordsNeedZip64(totals, force),
      endRecordsLength: endLength,
      archiveSize: totals.centralDirectoryOffset + totals.centralDirectorySize + endLength,
    };
  }
}

/** Lays out entries lazily; pass an existing layout to continue one and read its summary after. */
export function* layoutEntries(
  specs: Iterable<EntrySpec>,
  layout: ArchiveLayout = new ArchiveLayout(),
): Generator<EntryLayout, ArchiveLayout, undefined> {
  for (const spec of specs) yield layout.add(spec);
  return layout;
}
