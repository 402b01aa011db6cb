/**
 * Server-side copy arithmetic (pure): which parts of an all-STORE archive are copied by S3
 * from source objects (UploadPartCopy) and which carry bytes the worker makes.
 *
 * S3 needs every part but the last to be at least 5 MiB, and a copied part is one range of
 * one object. The bytes between two copied entries (data descriptor, the next local header,
 * any streamed entries) are therefore either
 *   - streamed parts of their own, when they are at least 5 MiB, or
 *   - appended to a staging object: [copy of the entry's last bytes][those bytes], itself
 *     copied whole as one part. The entry's earlier bytes (when it has 10 MiB or more) are
 *     copied directly, so a staging object holds 5–10 MiB of the entry (plus under 5 MiB
 *     after it) whatever the entry's size.
 * The first part is streamed and at least 5 MiB: when the first copied entry starts inside it,
 * its first bytes are streamed there and the copy takes the rest.
 */

import { MAX_PARTS, MIN_PART_SIZE } from '../../shared/limits';
/** The largest part, and the largest range one UploadPartCopy may copy. */
export const MAX_COPY_RANGE = 5 * 1024 * 1024 * 1024;
/**
 * The range one UploadPartCopy copies at most here (or partSize, if larger): the store answers
 * only when the copy is done, so a copy must end well inside the S3 client's socket timeout
 * (8 s without a byte) even on a slow store.
 */
export const COPY_RANGE = 256 * 1024 * 1024;

/** An entry whose data S3 can copy: its CRC-32 is known without reading it. */
export interface CopyCandidate {
  entry: number;
  dataOffset: number;
  size: number;
}

/** Archive bytes [start, end) the worker makes and uploads as one part. */
export interface StreamedPart {
  kind: 'stream';
  part: number;
  start: number;
  end: number;
}

/** Archive bytes [start, end) = source bytes [from, from + end − start) of `entry`. */
export interface CopiedPart {
  kind: 'copy';
  part: number;
  start: number;
  end: number;
  entry: number;
  from: number;
}

/**
 * Archive bytes [start, end): source bytes [from, size) of `entry` (ending at archive byte
 * `made`), then archive bytes [made, end) the worker makes; joined in a staging object first.
 */
export interface StagedPart {
  kind: 'staged';
  part: number;
  start: number;
  end: number;
  entry: number;
  from: number;
  made: number;
}

export type PlannedPart = StreamedPart | CopiedPart | StagedPart;

export interface CopyPlan {
  parts: PlannedPart[];
  /** Entries whose data is copied, in archive order. */
  copied: number[];
  /** Source bytes S3 copies into the archive (not counting staging copies). */
  copiedBytes: number;
  /**
   * Data bytes of the first copied entry that are streamed (it starts within the first 5 MiB
   * of the archive, which is a streamed part): its copy begins at this byte of the object.
   */
  firstHead: number;
}

/**
 * Plans the parts of an archive of `archiveSize` bytes. `candidates` come in archive order;
 * the ones under 5 MiB, too early to leave a 5 MiB first part, or past what S3's 10,000
 * parts allow, are streamed.
 */
export function planCopyParts(
  archiveSize: number,
  partSize: number,
  candidates: Iterable<CopyCandidate>,
): CopyPlan {
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE)
    throw new RangeError(`partSize must be at least ${MIN_PART_SIZE}, got ${partSize}`);
  const copyRange = Math.min(MAX_COPY_RANGE, Math.max(COPY_RANGE, partSize));
  let chosen: CopyCandidate[] = [];
  for (const c of candidates) {
    if (c.size < MIN_PART_SIZE) continue;
    // The first part is streamed and at least 5 MiB: a first candidate starting earlier has
    // its first bytes streamed in it, if what is left is still 5 MiB.
    if (chosen.length === 0 && c.size - headOf(c) < MIN_PART_SIZE) continue;
    chosen.push(c);
  }
  const plan = (copied: CopyCandidate[]): CopyPlan =>
    layOutParts(archiveSize, partSize, copyRange, copied);
  let result = plan(chosen);
  if (result.parts.length > MAX_PARTS) {
    // Copying fewer entries takes fewer parts: copy the longest run from the start that fits
    // and stream the rest (the count is near enough monotonic for a bisection).
    let fits = 0;
    let over = chosen.length;
    while (over - fits > 1) {
      const mid = Math.floor((fits + over) / 2);
      if (plan(chosen.slice(0, mid)).parts.length <= MAX_PARTS) fits = mid;
      else over = mid;
    }
    chosen = chosen.slice(0, fits);
    result = plan(chosen);
  }
  if (result.parts.length > MAX_PARTS)
    throw new RangeError(
      `the archive would need ${result.parts.length} parts, more than S3's ${MAX_PARTS}`,
    );
  return result;
}

/**
 * An order for one page of STORE entries that packs well for server-side copy: before each
 * entry of 5 MiB or more (one S3 may copy) come at least 5 MiB of smaller entries, while they
 * last, so the bytes between two copied entries make parts of their own instead of being
 * staged (copied twice). Smaller entries that fill no such gap go last. Each kind keeps its
 * listing order, so the same page always gives the same order.
 */
export function packedOrder<T extends { size: number }>(entries: readonly T[]): T[] {
  const small = entries.filter((e) => e.size < MIN_PART_SIZE);
  const order: T[] = [];
  let next = 0;
  for (const entry of entries) {
    if (entry.size < MIN_PART_SIZE) continue;
    let gap = 0;
    let end = next;
    while (gap < MIN_PART_SIZE && end < small.length) gap += small[end++].size;
    if (gap >= MIN_PART_SIZE) {
      order.push(...small.slice(next, end));
      next = end;
    }
    order.push(entry);
  }
  order.push(...small.slice(next));
  return order;
}

/** Data bytes of the first copied entry that go, streamed, into the 5 MiB first part. */
function headOf(first: CopyCandidate): number {
  return Math.max(0, MIN_PART_SIZE - first.dataOffset);
}

/** The parts when exactly `chosen` are copied (in archive order, each >= 5 MiB). */
function layOutParts(
  archiveSize: number,
  partSize: number,
  copyRange: number,
  chosen: CopyCandidate[],
): CopyPlan {
  const parts: PlannedPart[] = [];
  const add = (
    part: Omit<StreamedPart, 'part'> | Omit<CopiedPart, 'part'> | Omit<StagedPart, 'part'>,
  ): void => {
    parts.push({ ...part, part: parts.length + 1 } as PlannedPart);
  };
  let copiedBytes = 0;
  let at = 0;
  chosen.forEach((c, i) => {
    const head = i === 0 ? headOf(c) : 0;
    streamed(at, c.dataOffset + head, partSize, false).forEach(add);
    const dataEnd = c.dataOffset + c.size;
    const next = i + 1 < chosen.length ? chosen[i + 1].dataOffset : null;
    // The bytes up to the next copied entry: a part (or parts) of their own, or staged.
    const staged = next !== null && next - dataEnd < MIN_PART_SIZE;
    const direct = !staged
      ? c.size
      : c.size - head >= 2 * MIN_PART_SIZE
        ? c.size - MIN_PART_SIZE
        : head;
    for (const [from, to] of split(head, direct, copyRange))
      add({
        kind: 'copy',
        start: c.dataOffset + from,
        end: c.dataOffset + to,
        entry: c.entry,
        from,
      });
    if (staged) {
      add({
        kind: 'staged',
        start: c.dataOffset + direct,
        end: next,
        entry: c.entry,
        from: direct,
        made: dataEnd,
      });
      at = next;
    } else {
      at = dataEnd;
    }
    copiedBytes += c.size - head;
  });
  streamed(at, archiveSize, partSize, true).forEach(add);
  const firstHead = chosen.length > 0 ? headOf(chosen[0]) : 0;
  return { parts, copied: chosen.map((c) => c.entry), copiedBytes, firstHead };
}

/**
 * Streamed parts covering [start, end): partSize each; a part that is not the archive's last
 * takes the remainder instead of leaving a short part (so it holds partSize to 2 × partSize).
 */
function streamed(
  start: number,
  end: number,
  partSize: number,
  last: boolean,
): Omit<StreamedPart, 'part'>[] {
  const length = end - start;
  if (length <= 0) return [];
  const count = last ? Math.ceil(length / partSize) : Math.max(1, Math.floor(length / partSize));
  // With a part size over 2.5 GiB the remainder could pass S3's 5 GiB: near-equal parts then.
  if (length - (count - 1) * partSize > MAX_COPY_RANGE)
    return split(start, end, MAX_COPY_RANGE).map(([from, to]) => ({
      kind: 'stream',
      start: from,
      end: to,
    }));
  return split(start, end, partSize, count).map(([from, to]) => ({
    kind: 'stream',
    start: from,
    end: to,
  }));
}

/** [start, end) cut into `count` pieces (default: of at most `max` bytes, near-equal). */
function split(start: number, end: number, max: number, count?: number): Array<[number, number]> {
  const length = end - start;
  if (length <= 0) return [];
  if (count !== undefined) {
    // partSize pieces, the last one taking what is left
    const pieces: Array<[number, number]> = [];
    for (let i = 0; i < count; i++)
      pieces.push([start + i * max, i === count - 1 ? end : start + (i + 1) * max]);
    return pieces;
  }
  const n = Math.ceil(length / max);
  const pieces: Array<[number, number]> = [];
  for (let i = 0; i < n; i++)
    pieces.push([start + Math.floor((length * i) / n), start + Math.floor((length * (i + 1)) / n)]);
  return pieces;
}
