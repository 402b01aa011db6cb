import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { localFileHeader } from '../../src/zip/records';
import { normalizeEntrySpec } from '../../src/zip';
import { prepareEntry } from '../../src/zip/spec';
import { randomArchive, withKnownHeaders } from '../readers/cases';
import { encodeYazl, encodeZipflow, type TestEntry } from '../readers/support';

function firstDifference(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++)
    if (a[i] !== b[i])
      return `first difference at byte ${i} (ours ${a[i]}, yazl ${b[i]}); lengths ${a.length} vs ${b.length}`;
  return `lengths differ: ${a.length} vs ${b.length}`;
}

async function assertSameAsYazl(
  entries: TestEntry[],
  end: Parameters<typeof encodeZipflow>[1] = {},
): Promise<void> {
  const ours = await encodeZipflow(entries, end);
  const theirs = await encodeYazl(entries, end);
  assert.ok(ours.equals(theirs), firstDifference(ours, theirs));
}

const T = Date.UTC(2024, 4, 17, 13, 45, 31, 500);

describe('local headers with sizes past 4 GiB equal Python zipfile ZipInfo.FileHeader(zip64=True)', () => {
  // yazl's addBuffer stops at 1 GiB; Python writes the same local header (ZIP64 extra with both
  // sizes, 0xffffffff in the 32-bit fields, version 4.5) for such an entry.
  it('matches for STORE entries of 4 GiB and more with a CRC-32 given', () => {
    for (const [name, size, crc] of [
      ['big.bin', 2 ** 32, 0x1234abcd],
      ['data/huge.iso', 5 * 2 ** 30 + 7, 0xfedcba98],
      ['edge', 0xffffffff, 0],
    ] as const) {
      const spec = normalizeEntrySpec({
        name,
        mtime: Date.UTC(2024, 0, 31, 12, 0, 0),
        compression: 'store',
        size,
        crc32: crc,
        dataDescriptor: false,
      });
      const ours = localFileHeader(prepareEntry(spec), {
        crc32: crc,
        compressedSize: size,
        uncompressedSize: size,
      });
      const script = [
        'import sys, zipfile',
        `zi = zipfile.ZipInfo(${JSON.stringify(name)}, date_time=(2024, 1, 31, 12, 0, 0))`,
        'zi.flag_bits = 0x800',
        'zi.compress_type = zipfile.ZIP_STORED',
        `zi.CRC = ${crc}`,
        `zi.file_size = zi.compress_size = ${size}`,
        'sys.stdout.buffer.write(zi.FileHeader(zip64=True))',
      ].join('\n');
      const python = execFileSync('python3', ['-c', script]);
      assert.ok(ours.equals(python), `${name}: ${firstDifference(ours, python)}`);
    }
  });
});

describe('zip encoder is byte-identical to yazl 3.3.1', () => {
  it('matches yazl over 250 seeded random archives (names, sizes, STORE/DEFLATE, levels, dirs, modes, mtimes, comments, forced ZIP64)', async () => {
    for (let seed = 1; seed <= 250; seed++) {
      const { entries, end } = randomArchive(seed);
      const ours = await encodeZipflow(entries, end);
      const theirs = await encodeYazl(entries, end);
      assert.ok(ours.equals(theirs), `seed ${seed}: ${firstDifference(ours, theirs)}`);
    }
  });

  it('with CRC and sizes in the local headers, matches yazl addBuffer (its known-CRC layout) over 250 seeded random archives, mixed with descriptor entries', async () => {
    for (let seed = 1; seed <= 250; seed++) {
      const { entries, end } = randomArchive(seed);
      const known = withKnownHeaders(entries, seed, seed % 2 === 0);
      const ours = await encodeZipflow(known, end);
      const theirs = await encodeYazl(known, end);
      assert.ok(ours.equals(theirs), `seed ${seed}: ${firstDifference(ours, theirs)}`);
    }
  });

  it('with CRC and sizes in the local headers: empty files, forced ZIP64, a CRC given in advance', async () => {
    const data = Buffer.from('known header '.repeat(100));
    await assertSameAsYazl(
      [
        {
          spec: { name: 'e.store', mtime: T, compression: 'store', dataDescriptor: false },
          data: Buffer.alloc(0),
        },
        {
          spec: { name: 'e.deflate', mtime: T, compression: 'deflate', dataDescriptor: false },
          data: Buffer.alloc(0),
        },
        {
          spec: {
            name: 's',
            mtime: T,
            compression: 'store',
            size: data.length,
            crc32: zlib.crc32(data),
            dataDescriptor: false,
            forceZip64: true,
          },
          data,
          chunkSizes: [100],
        },
        {
          spec: { name: 'd', mtime: T, level: 9, dataDescriptor: false, forceZip64: true },
          data,
        },
      ],
      { forceZip64: true },
    );
  });

  it('matches yazl for an empty archive, with and without forced ZIP64 end records', async () => {
    await assertSameAsYazl([]);
    await assertSameAsYazl([], { forceZip64: true });
    await assertSameAsYazl([], { comment: 'just a comment' });
  });

  it('matches yazl for empty files in STORE and DEFLATE', async () => {
    await assertSameAsYazl([
      { spec: { name: 'empty.store', mtime: T, compression: 'store' }, data: Buffer.alloc(0) },
      { spec: { name: 'empty.deflate', mtime: T, compression: 'deflate' }, data: Buffer.alloc(0) },
      {
        spec: { name: 'empty.sized', mtime: T, compression: 'store', size: 0 },
        data: Buffer.alloc(0),
      },
    ]);
  });

  it('matches yazl for directory entries with and without trailing slash, default and custom mode', async () => {
    await assertSameAsYazl([
      { spec: { name: 'd1', mtime: T, directory: true }, data: Buffer.alloc(0) },
      { spec: { name: 'd2/', mtime: T, directory: true, mode: 0o40700 }, data: Buffer.alloc(0) },
      {
        spec: { name: 'd3/sub', mtime: T, directory: true, forceZip64: true },
        data: Buffer.alloc(0),
      },
    ]);
  });

  it('matches yazl for every entry and the end records forced to ZIP64', async () => {
    const data = Buffer.from('forced zip64 '.repeat(100));
    await assertSameAsYazl(
      [
        { spec: { name: 's', mtime: T, compression: 'store', forceZip64: true }, data },
        { spec: { name: 'd', mtime: T, compression: 'deflate', level: 9, forceZip64: true }, data },
        {
          spec: { name: 'dir', mtime: T, directory: true, forceZip64: true },
          data: Buffer.alloc(0),
        },
      ],
      { forceZip64: true, comment: 'forced' },
    );
  });

  it('matches yazl for UTF-8 names and file comments, and a byte archive comment', async () => {
    await assertSameAsYazl(
      [
        {
          spec: {
            name: 'données/日本語/😀.txt',
            mtime: T,
            compression: 'deflate',
            comment: 'ｃｏｍｍｅｎｔ ✓',
          },
          data: Buffer.from('x'),
        },
      ],
      { comment: Buffer.from('ünïcödé', 'utf8') },
    );
  });

  it('matches yazl for mtimes clamped to the DOS range and the 32-bit UT range', async () => {
    const times = [
      0,
      Date.UTC(1979, 11, 31),
      Date.UTC(1980, 0, 1),
      Date.UTC(2038, 0, 19, 3, 14, 8),
      Date.UTC(2107, 11, 31, 23, 59, 59),
      Date.UTC(2200, 0, 1),
      T + 1,
      T + 999,
    ];
    await assertSameAsYazl(
      times.map((mtime, i) => ({
        spec: { name: `t${i}`, mtime, compression: 'store' as const },
        data: Buffer.from([i]),
      })),
    );
  });

  it('matches yazl for every DEFLATE level on compressible and random data fed in odd chunk sizes', async () => {
    const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(3000));
    const random = Buffer.alloc(100_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const entries: TestEntry[] = [];
    for (let level = 1; level <= 9; level++) {
      entries.push({
        spec: { name: `text-${level}`, mtime: T, compression: 'deflate', level },
        data: text,
        chunkSizes: [1, 7, 65536, 333],
      });
      entries.push({
        spec: { name: `random-${level}`, mtime: T, compression: 'deflate', level },
        data: random,
        chunkSizes: [4096],
      });
    }
    await assertSameAsYazl(entries);
  });

  it('writes the same bytes whatever the process time zone (DOS time is UTC)', async () => {
    const entries: TestEntry[] = [
      { spec: { name: 'tz', mtime: T, compression: 'store' }, data: Buffer.from('tz') },
    ];
    const before = await encodeZipflow(entries);
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'America/Los_Angeles';
      assert.equal(new Date(T).getHours(), 6); // the zone change took effect
      const after = await encodeZipflow(entries);
      assert.ok(before.equals(after));
    } finally {
      process.env.TZ = saved;
    }
  });
});
