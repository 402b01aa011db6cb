/**
 * `auto` compression: STORE what will not shrink, DEFLATE the rest. Pure and
 * deterministic: the same name and first bytes always give the same answer.
 */
import * as zlib from 'node:zlib';
import type { Compression } from './spec';

/** How much of the start of an object the sample test looks at. */
export const AUTO_SAMPLE_BYTES = 64 * 1024;
/** DEFLATE must save at least this fraction of the sample, or the entry is stored. */
export const AUTO_MIN_SAVING = 0.1;

/**
 * Extensions of formats that are already compressed (or are ZIP containers), where
 * deflate costs CPU and saves ~nothing. PDF is not listed: many PDFs hold plain
 * streams, so the sample decides.
 */
// prettier-ignore
export const STORED_EXTENSIONS: ReadonlySet<string> = new Set([
  // archives and compressed streams
  'zip', 'gz', 'tgz', 'bz2', 'tbz', 'tbz2', 'xz', 'txz', 'zst', 'tzst', 'lz', 'lz4', 'lzma', 'br', 'z', '7z', 'rar', 'cab', 'zipx',
  // ZIP-based documents and packages
  'docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp', 'epub', 'jar', 'war', 'apk', 'aab', 'ipa', 'whl', 'nupkg', 'vsix', 'xpi', 'kmz',
  // images
  'jpg', 'jpeg', 'jfif', 'png', 'gif', 'webp', 'heic', 'heif', 'avif', 'jxl', 'jp2',
  // audio and video
  'mp3', 'aac', 'm4a', 'ogg', 'oga', 'opus', 'flac', 'wma', 'mp4', 'm4v', 'mov', 'mkv', 'avi', 'webm', 'wmv', 'flv', '3gp',
  // fonts and other packed binaries
  'woff', 'woff2', 'dmg', 'squashfs', 'rpm', 'deb', 'parquet', 'orc', 'avro',
]);

export type AutoReason = 'extension' | 'sample' | 'empty';

export interface AutoDecision {
  compression: Compression;
  reason: AutoReason;
}

export function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/**
 * Decides STORE vs DEFLATE from the entry name and the first up to 64 KiB of its data
 * (pass fewer bytes for smaller objects; more is ignored).
 */
export function autoCompressionDecision(name: string, sample: Uint8Array): AutoDecision {
  if (STORED_EXTENSIONS.has(extensionOf(name)))
    return { compression: 'store', reason: 'extension' };
  const head = sample.subarray(0, AUTO_SAMPLE_BYTES);
  // Nothing to compress: deflate would only add its 2-byte end block.
  if (head.length === 0) return { compression: 'store', reason: 'empty' };
  // Level 1 is a quick estimate; the real entry uses the chosen level and does better.
  const deflated = zlib.deflateRawSync(head, { level: 1 }).length;
  const shrinks = deflated <= head.length * (1 - AUTO_MIN_SAVING);
  return { compression: shrinks ? 'deflate' : 'store', reason: 'sample' };
}

export function autoCompression(name: string, sample: Uint8Array): Compression {
  return autoCompressionDecision(name, sample).compression;
}

/**
 * Reads up to `limit` bytes from the start of `source` for autoCompression, and returns
 * a source that yields everything again. The chunks read for the sample are copies: the source
 * may reuse a chunk once the next one is asked for (ByteSource).
 */
export async function takeSample(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  limit: number = AUTO_SAMPLE_BYTES,
): Promise<{ sample: Buffer; source: AsyncIterable<Uint8Array> }> {
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const head: Uint8Array[] = [];
  let taken = 0;
  let done = false;
  while (taken < limit) {
    const r = await iterator.next();
    if (r.done === true) {
      done = true;
      break;
    }
    head.push(Buffer.from(r.value));
    taken += r.value.byteLength;
  }
  const sample = Buffer.concat(head).subarray(0, limit);
  async function* replay(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* head;
    if (done) return;
    for (;;) {
      const r = await iterator.next();
      if (r.done === true) return;
      yield r.value;
    }
  }
  return { sample, source: replay() };
}
