/**
 * Encoder checkpoints: the JSON value that lets a new ZipEncoder continue a byte stream
 * exactly (at an entry boundary, or inside an entry except inside DEFLATE data), and the
 * validation applied when one is read back from heartbeat details or a state object.
 */
import { ZipInputError } from './errors';
import { normalizeEntrySpec, type NormalizedEntrySpec } from './spec';

export const CHECKPOINT_FORMAT = 'zipflow.zip-encoder/1';

export type EntryPhase = 'localFileHeader' | 'data' | 'dataDescriptor';

/** The entry in flight at a checkpoint. */
export interface EntryCheckpoint {
  spec: NormalizedEntrySpec;
  localHeaderOffset: number;
  phase: EntryPhase;
  /** Bytes of the current phase already emitted. */
  phaseOffset: number;
  /** CRC-32 of the uncompressed bytes consumed so far. */
  crc32: number;
  /** Uncompressed bytes consumed so far: re-feed the source from this offset. */
  uncompressedSize: number;
  /** Entry data bytes emitted so far. */
  compressedSize: number;
}

/** Encoder state at a byte position of the archive. JSON; size independent of entry count. */
export interface EncoderCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  /** Archive bytes emitted before this point. */
  position: number;
  /** Entries whose central-directory records precede this point (spill index to keep). */
  entryCount: number;
  /** Bytes of those central-directory records. */
  centralDirectorySize: number;
  entry: EntryCheckpoint | null;
}

/**
 * An entry with CRC and sizes in its local header and no CRC given in advance: the encoder
 * reads its source whole before the header, so it has no state worth saving inside it.
 */
export function readsWhole(spec: NormalizedEntrySpec): boolean {
  return !spec.directory && !spec.dataDescriptor && spec.crc32 === null;
}

/**
 * A checkpoint can be taken anywhere except after DEFLATE has consumed or produced data, and
 * except inside an entry read whole (only at its start).
 */
export function checkpointable(e: EntryCheckpoint): boolean {
  if (readsWhole(e.spec)) return e.phase === 'localFileHeader' && e.phaseOffset === 0;
  return !(
    e.phase === 'data' &&
    e.spec.compression === 'deflate' &&
    (e.uncompressedSize > 0 || e.compressedSize > 0)
  );
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks a checkpoint read back from JSON before trusting it. */
export function validateCheckpoint(value: unknown): EncoderCheckpoint {
  const bad = (why: string): ZipInputError =>
    new ZipInputError('checkpoint', `${why}; pass a value returned by ZipEncoder.checkpoint()`);
  if (value === null || typeof value !== 'object') throw bad('is not an object');
  const cp = value as Partial<EncoderCheckpoint>;
  if (cp.format !== CHECKPOINT_FORMAT)
    throw bad(`has format ${JSON.stringify(cp.format)}, expected ${CHECKPOINT_FORMAT}`);
  if (!isCount(cp.position) || !isCount(cp.entryCount) || !isCount(cp.centralDirectorySize))
    throw bad('has invalid counters');
  const e = cp.entry;
  if (e === null || e === undefined) {
    return {
      format: CHECKPOINT_FORMAT,
      position: cp.position,
      entryCount: cp.entryCount,
      centralDirectorySize: cp.centralDirectorySize,
      entry: null,
    };
  }
  if (typeof e !== 'object') throw bad('has an invalid entry');
  if (!['localFileHeader', 'data', 'dataDescriptor'].includes(e.phase))
    throw bad(`has unknown entry phase ${JSON.stringify(e.phase)}`);
  if (![e.localHeaderOffset, e.phaseOffset, e.uncompressedSize, e.compressedSize].every(isCount))
    throw bad('has invalid entry counters');
  if (!isCount(e.crc32) || e.crc32 > 0xffffffff) throw bad('has an invalid crc32');
  const spec = normalizeEntrySpec(e.spec);
  const entry: EntryCheckpoint = { ...e, spec };
  if (!checkpointable(entry)) throw bad('points inside DEFLATE data or an entry read whole');
  if (entry.phase === 'dataDescriptor' && !spec.dataDescriptor)
    throw bad('points into a data descriptor the entry does not have');
  if (spec.compression === 'store' && entry.uncompressedSize !== entry.compressedSize)
    throw bad('has STORE sizes that differ');
  if (entry.phase === 'data' && entry.phaseOffset !== entry.compressedSize)
    throw bad('has a data offset that differs from the bytes emitted');
  if (
    entry.phase === 'localFileHeader' &&
    (entry.uncompressedSize !== 0 || entry.compressedSize !== 0 || entry.crc32 !== 0)
  ) {
    throw bad('has data progress before the header is complete');
  }
  return {
    format: CHECKPOINT_FORMAT,
    position: cp.position,
    entryCount: cp.entryCount,
    centralDirectorySize: cp.centralDirectorySize,
    entry,
  };
}

/** Byte offset of the source to re-feed after resuming, or null when no entry is in flight. */
export function resumeSourceOffset(checkpoint: EncoderCheckpoint): number | null {
  return checkpoint.entry === null ? null : checkpoint.entry.uncompressedSize;
}
