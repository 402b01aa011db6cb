/** Seeded generators of test archives (entries + end options) for the property tests. */
import * as zlib from 'node:zlib';
import type { EndOptions, EntrySpec } from '../../src/zip';
import { prng, type TestEntry } from './support';

type Rng = ReturnType<typeof prng>;

const SEGMENT_ALPHABET = [
  'a',
  'b',
  'Z',
  '0',
  '9',
  '-',
  '_',
  '.',
  ' ',
  'é',
  'ß',
  'Ω',
  'ж',
  '日',
  '本',
  '語',
  '😀',
  '🚀',
  'ﬁ',
  '\u0301',
];
const SIZE_EDGES = [
  0, 1, 2, 15, 16, 17, 255, 256, 1023, 1024, 4095, 4096, 16383, 16384, 16385, 65535, 65536, 65537,
];
const FILE_MODES = [undefined, 0o100644, 0o100755, 0o100600, 0o100444, 0o120777, 0o100664];
const DIR_MODES = [undefined, 0o40755, 0o40700, 0o40775];

function segment(rng: Rng): string {
  let s = '';
  const n = rng.int(1, 10);
  for (let i = 0; i < n; i++) s += rng.pick(SEGMENT_ALPHABET);
  // "." and ".." segments are not what this generator is for.
  return s === '.' || s === '..' ? `${s}x` : s;
}

export function randomName(rng: Rng): string {
  const depth = rng.int(1, 3);
  const parts: string[] = [];
  for (let i = 0; i < depth; i++) parts.push(segment(rng));
  return parts.join('/');
}

export function randomData(rng: Rng, size: number): Buffer {
  const kind = rng.int(0, 3);
  const b = Buffer.alloc(size);
  if (kind === 0) {
    for (let i = 0; i < size; i++) b[i] = Math.floor(rng.next() * 256);
  } else if (kind === 1) {
    const words = ['lorem ', 'ipsum ', 'zip ', 'flow ', 'data\n', 'ünïcödé '];
    let at = 0;
    while (at < size) at += b.write(rng.pick(words), at);
  } else if (kind === 2) {
    b.fill(rng.int(0, 255));
  } else {
    for (let i = 0; i < size; i++) b[i] = rng.bool(0.9) ? 65 : Math.floor(rng.next() * 256);
  }
  return b;
}

function randomSize(rng: Rng, max: number): number {
  return rng.bool(0.6) ? Math.min(rng.pick(SIZE_EDGES), max) : rng.int(0, max);
}

/** mtimes from 1970 to 2110: below the DOS floor, across 2038, above the DOS ceiling. */
export function randomMtime(rng: Rng): number {
  const edges = [
    0,
    Date.UTC(1979, 11, 31, 23, 59, 59),
    Date.UTC(1980, 0, 1),
    Date.UTC(2038, 0, 19, 3, 14, 7),
    Date.UTC(2038, 0, 19, 3, 14, 8),
    Date.UTC(2107, 11, 31, 23, 59, 59),
    Date.UTC(2109, 5, 1),
  ];
  return rng.bool(0.2) ? rng.pick(edges) : Math.floor(rng.next() * Date.UTC(2110, 0, 1));
}

export interface GenOptions {
  maxEntries?: number;
  maxSize?: number;
  storeOnly?: boolean;
}

export function randomEntry(rng: Rng, opts: GenOptions = {}): TestEntry {
  const maxSize = opts.maxSize ?? 70_000;
  const directory = rng.bool(0.12);
  const spec: EntrySpec = { name: randomName(rng), mtime: randomMtime(rng) };
  if (rng.bool(0.2)) spec.forceZip64 = true;
  if (directory) {
    spec.directory = true;
    const mode = rng.pick(DIR_MODES);
    if (mode !== undefined) spec.mode = mode;
    if (rng.bool(0.5)) spec.name += '/';
    return { spec, data: Buffer.alloc(0) };
  }
  const mode = rng.pick(FILE_MODES);
  if (mode !== undefined) spec.mode = mode;
  const store = opts.storeOnly === true || rng.bool(0.5);
  if (store) {
    spec.compression = 'store';
  } else if (rng.bool(0.8)) {
    spec.compression = 'deflate';
    if (rng.bool(0.7)) spec.level = rng.int(1, 9);
  } // else: default compression (deflate 6)
  if (rng.bool(0.3))
    spec.comment = rng.bool(0.5) ? 'file comment' : `ｃｏｍｍｅｎｔ ${segment(rng)}`;
  const data = randomData(rng, randomSize(rng, maxSize));
  if (store ? rng.bool(0.7) : rng.bool(0.3)) spec.size = data.length;
  const chunkSizes = rng.bool(0.5)
    ? [rng.int(1, 5000), rng.int(1, 70000), rng.int(1, 300)]
    : undefined;
  return { spec, data, ...(chunkSizes !== undefined ? { chunkSizes } : {}) };
}

export function randomArchive(
  seed: number,
  opts: GenOptions = {},
): { entries: TestEntry[]; end: EndOptions } {
  const rng = prng(seed);
  const n = rng.int(0, opts.maxEntries ?? 8);
  const entries: TestEntry[] = [];
  for (let i = 0; i < n; i++) entries.push(randomEntry(rng, opts));
  const end: EndOptions = {};
  if (rng.bool(0.3)) end.forceZip64 = true;
  const c = rng.int(0, 3);
  if (c === 1) end.comment = 'archive comment: printable ASCII ~!';
  if (c === 2) end.comment = Buffer.from('UTF-8 bytes: ünïcödé 日本', 'utf8');
  return { entries, end };
}

/**
 * The same entries with CRC and sizes in their local headers (dataDescriptor false): every
 * file, or (mixed) about two in three; STORE entries with a declared size sometimes get their
 * CRC-32 in advance, as a store's checksum gives it. Its own PRNG, so the entries stay those
 * of randomArchive(seed).
 */
export function withKnownHeaders(entries: TestEntry[], seed: number, mixed = true): TestEntry[] {
  const rng = prng(seed ^ 0x5eed);
  return entries.map((e) => {
    if (e.spec.directory === true || (mixed && rng.bool(1 / 3))) return e;
    const spec: EntrySpec = { ...e.spec, dataDescriptor: false };
    if (spec.compression === 'store' && spec.size != null && rng.bool(0.5))
      spec.crc32 = zlib.crc32(e.data);
    return { ...e, spec };
  });
}
