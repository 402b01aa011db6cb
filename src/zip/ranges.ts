/**
 * Parallel assembly arithmetic (pure): how the parts of an all-STORE archive are split into
 * contiguous ranges that different workers build, which parts of a range must wait for a CRC
 * the range cannot know, and how partial CRCs of an entry's data combine into the CRC of its
 * first bytes.
 *
 * A range is a run of whole parts. It knows the CRC-32 of every entry whose data starts in
 * it; an entry whose data began in an earlier range ("crossing in") has a data descriptor
 * (APPNOTE 4.3.9) and central-directory record whose CRC-32 depends on bytes this range never
 * saw. The parts holding that descriptor are deferred: the finishing step builds them once
 * the partial CRCs of every range are combined (crc32_combine).
 */
import { crc32Combine } from './crc32Combine';

export interface PartRange {
  /** 0-based range number. */
  index: number;
  /** Part numbers firstPart..lastPart (1-based, as in UploadPart). */
  firstPart: number;
  lastPart: number;
  /** Archive bytes [start, end). */
  start: number;
  end: number;
}

export interface PartSplit {
  ranges: PartRange[];
  /**
   * The part holding the first central-directory byte: it and every later part are built by
   * the finishing step (the central directory is known only when every range is done).
   */
  endFirstPart: number;
  partCount: number;
}

/**
 * Splits the parts before the central directory into at most `count` contiguous ranges of
 * near-equal part counts (the first ranges take the remainder). Fewer parts than `count`
 * give fewer ranges; none at all when the central directory starts in part 1.
 */
export function splitParts(
  archive: { centralDirectoryOffset: number; archiveSize: number },
  partSize: number,
  count: number,
): PartSplit {
  if (!Number.isSafeInteger(partSize) || partSize <= 0)
    throw new RangeError(`partSize must be a positive integer, got ${partSize}`);
  if (!Number.isSafeInteger(count) || count < 1)
    throw new RangeError(`count must be a positive integer, got ${count}`);
  const partCount = Math.max(1, Math.ceil(archive.archiveSize / partSize));
  const endFirstPart = Math.min(
    partCount,
    Math.floor(archive.centralDirectoryOffset / partSize) + 1,
  );
  const rangeParts = endFirstPart - 1;
  const n = Math.min(count, rangeParts);
  const ranges: PartRange[] = [];
  let next = 1;
  for (let index = 0; index < n; index++) {
    const parts = Math.floor(rangeParts / n) + (index < rangeParts % n ? 1 : 0);
    const firstPart = next;
    const lastPart = next + parts - 1;
    ranges.push({
      index,
      firstPart,
      lastPart,
      start: (firstPart - 1) * partSize,
      end: lastPart * partSize,
    });
    next = lastPart + 1;
  }
  return { ranges, endFirstPart, partCount };
}

/** Where an entry lies (ArchiveLayout's EntryLayout has these). */
export interface EntryPlace {
  index: number;
  localHeaderOffset: number;
  dataOffset: number;
  /** null for directories: no data, no descriptor, no CRC to wait for. */
  dataDescriptorOffset: number | null;
  end: number;
}

/** True when a range starting at `start` cannot know the entry's CRC-32: its data began earlier. */
export function crcUnknownAt(entry: EntryPlace, start: number): boolean {
  return entry.dataDescriptorOffset !== null && entry.dataOffset < start;
}

/**
 * The parts of a range that hold bytes of the data descriptor of `head` (the entry in flight
 * at the range's start) when its CRC is unknown to the range; null when there are none.
 */
export function deferredParts(
  head: EntryPlace,
  range: { start: number; end: number },
  partSize: number,
): { firstPart: number; lastPart: number } | null {
  if (!crcUnknownAt(head, range.start)) return null;
  const from = Math.max(head.dataDescriptorOffset!, range.start);
  const to = Math.min(head.end, range.end);
  if (from >= to) return null;
  return { firstPart: Math.floor(from / partSize) + 1, lastPart: Math.ceil(to / partSize) };
}

/** CRC-32 of the bytes [from, from + length) of one entry's data. */
export interface CrcPiece {
  entry: number;
  from: number;
  length: number;
  crc: number;
}

/**
 * CRC-32 of the first `length` data bytes of `entry`, combined from pieces that cover them
 * from byte 0 without a gap (pieces may overlap in their start: the longest one that still
 * fits is taken). Throws when the pieces do not cover them: a range result is missing.
 */
export function crcOfFirstBytes(entry: number, length: number, pieces: CrcPiece[]): number {
  const mine = pieces.filter((p) => p.entry === entry && p.length > 0);
  let crc = 0;
  let covered = 0;
  while (covered < length) {
    let best: CrcPiece | undefined;
    for (const p of mine) {
      if (p.from === covered && covered + p.length <= length && p.length > (best?.length ?? 0))
        best = p;
    }
    if (!best)
      throw new Error(
        `no CRC piece of entry ${entry} starts at data byte ${covered} (need the first ${length} bytes)`,
      );
    crc = crc32Combine(crc, best.crc, best.length);
    covered += best.length;
  }
  return crc;
}
