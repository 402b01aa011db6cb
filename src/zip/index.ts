/**
 * zipflow ZIP64 streaming encoder — public API. Pure: bytes in, bytes out, no I/O.
 *
 *   const enc = new ZipEncoder();                       // or ZipEncoder.resume(checkpoint)
 *   for (const { spec, source } of entries) {
 *     for await (const chunk of enc.entry(spec, source)) upload(chunk);  // header, data, descriptor
 *     spill(enc.lastCentralDirectoryRecord!);           // + enc.lastEntry {crc32, sizes, offset}
 *     saveCheckpoint(enc.checkpoint());                 // small JSON, any time but inside DEFLATE data
 *   }
 *   for await (const chunk of endOfArchive(spilledRecords(), enc.totals(), { comment })) upload(chunk);
 *
 * Resume: ZipEncoder.resume(cp); if cp.entry is set, call enc.continueEntry(source) with the
 * source re-fed from resumeSourceOffset(cp), then carry on. enc.checkpoint(at) also cuts inside
 * the last chunk handed out (a part boundary in the middle of a chunk). Spilled records that
 * belong to the checkpoint are the first cp.entryCount; drop any spilled after it.
 *
 * Entry spec: { name, mtime (epoch ms), mode?, compression?: 'store'|'deflate' (default deflate),
 * level? (1..9, default 6), size? (declared; checked), comment?, directory?, forceZip64?,
 * dataDescriptor? (default true; false: CRC and sizes in the local header), crc32? (known in
 * advance, STORE with size) }. Output equals yazl 3.3.1 addReadStream (addBuffer for
 * dataDescriptor false)/addEmptyDirectory + end() byte for byte (DOS times in UTC; run yazl
 * with TZ=UTC). Layout of STORE archives: ArchiveLayout / layoutEntries.
 * Bad input: ZipInputError { field }. Misuse: ZipStateError.
 */
export { ZipEncoder } from './encoder';
export type { EntryResult, ByteSource } from './encoder';
export { CHECKPOINT_FORMAT, resumeSourceOffset, validateCheckpoint } from './checkpoint';
export type { EncoderCheckpoint, EntryCheckpoint, EntryPhase } from './checkpoint';
export {
  endOfArchive,
  endRecords,
  endRecordsLength,
  endRecordsNeedZip64,
  archiveCommentBytes,
} from './end';
export type { ArchiveTotals, EndOptions } from './end';
export { ArchiveLayout, layoutEntries } from './layout';
export type { EntryLayout, ArchiveLayoutSummary } from './layout';
export { crc32Combine } from './crc32Combine';
export {
  autoCompression,
  autoCompressionDecision,
  takeSample,
  extensionOf,
  STORED_EXTENSIONS,
  AUTO_SAMPLE_BYTES,
  AUTO_MIN_SAVING,
} from './auto';
export type { AutoDecision, AutoReason } from './auto';
export { normalizeEntrySpec, validateName } from './spec';
export type { EntrySpec, NormalizedEntrySpec, Compression } from './spec';
export type { EntryFacts } from './records';
export { dataDescriptorLength, readDataDescriptor } from './records';
export { ZipInputError, ZipStateError } from './errors';
export { splitParts, deferredParts, crcUnknownAt, crcOfFirstBytes } from './ranges';
export type { PartRange, PartSplit, EntryPlace, CrcPiece } from './ranges';
